/**
 * Multi-document transactions are refused rather than pretended. A command that starts one
 * (`startTransaction: true`) gets IllegalOperation (20) — the code mongod uses when its
 * storage engine cannot run transactions — with a message naming this store, and no
 * TransientTransactionError label, so drivers do not retry it. commitTransaction and
 * abortTransaction can only refer to a transaction that never started: NoSuchTransaction (251).
 */
import type { Document } from 'bson';
import { ErrorCodes, MongoServerFailure } from '../errors.js';
import type { CommandHandler } from './context.js';

export function transactionRefusal(): MongoServerFailure {
  return new MongoServerFailure(
    ErrorCodes.IllegalOperation,
    'Transactions are not supported by the medhub embedded store; use a MongoDB replica set (MONGO_URL) for multi-document transactions',
  );
}

/**
 * Snapshot reads (`readConcern: {level: 'snapshot'}` outside a transaction, as a session
 * started with `snapshot: true` sends) would need the same point-in-time reads: refused with
 * the same code rather than served as plain reads that see later writes.
 */
export function snapshotReadRefusal(): MongoServerFailure {
  return new MongoServerFailure(
    ErrorCodes.IllegalOperation,
    "Snapshot reads (readConcern level 'snapshot') are not supported by the medhub embedded store; use a MongoDB replica set (MONGO_URL) for snapshot reads",
  );
}

export function isSnapshotRead(command: Document): boolean {
  const readConcern: unknown = command.readConcern;
  return readConcern !== null && typeof readConcern === 'object' && (readConcern as Document).level === 'snapshot';
}

/** True for commands that take part in a multi-document transaction. */
export function isTransactionStatement(command: Document): boolean {
  return command.startTransaction === true || command.autocommit === false;
}

function noSuchTransaction(command: Document): MongoServerFailure {
  const txnNumber = command.txnNumber === undefined ? '-1' : String(command.txnNumber);
  return new MongoServerFailure(
    ErrorCodes.NoSuchTransaction,
    `Given transaction number ${txnNumber} does not match any in-progress transactions. The active transaction number is -1`,
  );
}

export const transactionCommands: Record<string, CommandHandler> = {
  commitTransaction: (ctx) => {
    throw noSuchTransaction(ctx.command);
  },
  abortTransaction: (ctx) => {
    throw noSuchTransaction(ctx.command);
  },
};
