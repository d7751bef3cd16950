/**
 * Retryable writes: a write carrying `lsid` + `txnNumber` is executed once; a retry with the
 * same pair gets the original reply (after it is durable). Records are journaled together
 * with the write, so a retry after a crash and restart is deduplicated too.
 */
import type { Binary, Document } from 'bson';
import { Long } from 'bson';
import { failure } from '../errors.js';
import type { JournalOp } from './journal-ops.js';

interface TransactionRecord {
  txnNumber: Long;
  reply: Document;
  durable: Promise<void>;
  lastUsed: number;
}

export function sessionKey(lsid: unknown): string | undefined {
  if (lsid === null || typeof lsid !== 'object') return undefined;
  const id = (lsid as { id?: Binary }).id;
  if (id === undefined || typeof id !== 'object') return undefined;
  // A view of the bytes, not a copy (every retryable write asks).
  return Buffer.from(id.buffer.buffer, id.buffer.byteOffset, id.buffer.byteLength).toString('hex');
}

/** int64 as the driver sends it (a Long, compared without converting), or an integral number. */
export function txnNumberOf(value: unknown): Long | undefined {
  if (value instanceof Long) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return Long.fromNumber(value);
  return undefined;
}

export class RetryableWrites {
  private readonly records = new Map<string, TransactionRecord>();

  /**
   * The earlier outcome for this (session, txnNumber), if the write already ran: its reply,
   * available once durable. A txnNumber older than the session's latest is refused like
   * mongod (TransactionTooOld, 225). Synchronous when there is nothing to wait for.
   */
  previousReply(session: string, txnNumber: Long): Promise<Document> | undefined {
    const record = this.records.get(session);
    if (record === undefined) return undefined;
    record.lastUsed = Date.now();
    const order = txnNumber.compare(record.txnNumber);
    if (order < 0) {
      throw failure(
        225,
        `Retryable write with txnNumber ${txnNumber} is prohibited on session ${session} because a newer retryable write with txnNumber ${record.txnNumber} has already started on this session.`,
      );
    }
    if (order > 0) return undefined;
    return record.durable.then(() => record.reply);
  }

  /** The journal op that makes this write's outcome survive a restart. */
  journalOp(session: string, txnNumber: Long, reply: Document): JournalOp {
    return { op: 'retryableWrite', session, txnNumber, reply, at: new Date() };
  }

  remember(session: string, txnNumber: Long, reply: Document, durable: Promise<void>): void {
    this.records.set(session, { txnNumber, reply, durable, lastUsed: Date.now() });
  }

  /** Replay of a journaled record. */
  restore(op: Extract<JournalOp, { op: 'retryableWrite' }>): void {
    const txnNumber = txnNumberOf(op.txnNumber);
    if (txnNumber === undefined) return;
    this.records.set(op.session, { txnNumber, reply: op.reply, durable: Promise.resolve(), lastUsed: op.at.getTime() });
  }

  /** Records of sessions idle longer than the logical session timeout can go (as mongod's reaper does). */
  forgetIdle(olderThanMs: number, now = Date.now()): void {
    for (const [session, record] of this.records) if (now - record.lastUsed > olderThanMs) this.records.delete(session);
  }

  snapshotOps(): JournalOp[] {
    return [...this.records].map(([session, record]) => ({
      op: 'retryableWrite',
      session,
      txnNumber: record.txnNumber,
      reply: record.reply,
      at: new Date(record.lastUsed),
    }));
  }
}
