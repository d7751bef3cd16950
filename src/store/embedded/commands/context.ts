/** What every command handler receives, and helpers shared by the handlers. */
import type { Document } from 'bson';
import { Long } from 'bson';
import type { Engine } from '../engine/engine.js';
import type { Collection } from '../engine/collection.js';
import { ErrorCodes, failure } from '../errors.js';
import { takeBatch } from '../engine/cursors.js';

export interface ConnectionState {
  id: number;
  remoteAddress: string;
}

export interface CommandContext {
  engine: Engine;
  /** The database from `$db`. */
  db: string;
  command: Document;
  connection: ConnectionState;
  /** For insert: each document's BSON as received (IncomingCommand.documentBytes). */
  documentBytes?: ReadonlyArray<Uint8Array | undefined>;
}

export type CommandHandler = (ctx: CommandContext) => Document | Promise<Document>;

/** The collection name a command targets: the value of its first field. */
export function targetCollection(ctx: CommandContext): string {
  const name = Object.values(ctx.command)[0];
  if (typeof name !== 'string' || name === '') {
    const commandName = Object.keys(ctx.command)[0] ?? '';
    throw failure(ErrorCodes.InvalidNamespace, `collection name has invalid type ${typeof name}`, { command: commandName });
  }
  return name;
}

export function existingCollection(ctx: CommandContext): Collection | undefined {
  return ctx.engine.catalog.get(ctx.db, targetCollection(ctx));
}

export function optionalDocument(value: unknown, field: string): Document | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw failure(ErrorCodes.TypeMismatch, `BSON field '${field}' is the wrong type '${Array.isArray(value) ? 'array' : typeof value}', expected type 'object'`);
  }
  return value as Document;
}

export function optionalNumber(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  return Number(value);
}

/** Default first batch of find/aggregate in mongod: 101 documents. */
const DEFAULT_FIRST_BATCH = 101;

/**
 * The cursor reply `{cursor: {firstBatch, id: Int64, ns}}`; a cursor is registered only when
 * documents remain. The id must be an int64 or the driver rejects the reply.
 */
export function cursorReply(
  ctx: CommandContext,
  ns: string,
  docs: Document[],
  batchSize: number | undefined,
  singleBatch = false,
): Document {
  const firstBatch = batchSize === 0 ? [] : takeBatch(docs, 0, batchSize ?? DEFAULT_FIRST_BATCH);
  const exhausted = singleBatch || firstBatch.length >= docs.length;
  const id = exhausted ? Long.ZERO : ctx.engine.cursors.open(ns, docs, firstBatch.length);
  return { cursor: { firstBatch, id, ns }, ok: 1 };
}
