/**
 * Shared plumbing of write commands: retryable-write deduplication, the WriteLog commit,
 * and the refusal of multi-document transactions.
 */
import { serialize } from 'bson';
import type { Document } from 'bson';
import type { RetryContext } from '../engine/engine.js';
import { WriteLog } from '../engine/journal-ops.js';
import { sessionKey, txnNumberOf } from '../engine/retryable-writes.js';
import type { CommandContext, CommandHandler } from './context.js';

export function retryContextOf(command: Document): RetryContext | undefined {
  const txnNumber = txnNumberOf(command.txnNumber);
  const session = sessionKey(command.lsid);
  if (txnNumber === undefined || session === undefined) return undefined;
  return { session, txnNumber };
}

/**
 * Wraps a write whose mutations run synchronously: a retry of an already applied
 * (lsid, txnNumber) gets the stored reply; otherwise the handler runs and the reply is
 * sent only after its WriteLog is durable.
 */
export function writeCommand(run: (ctx: CommandContext, log: WriteLog) => Document): CommandHandler {
  return async (ctx) => {
    const retry = retryContextOf(ctx.command);
    if (retry !== undefined) {
      const previous = ctx.engine.retryableWrites.previousReply(retry.session, retry.txnNumber);
      if (previous !== undefined) return previous;
    }
    const log = new WriteLog();
    let reply: Document;
    try {
      reply = run(ctx, log);
    } catch (error) {
      // Anything already applied must still reach the journal before we answer.
      if (!log.isEmpty) await ctx.engine.commit(log);
      throw error;
    }
    await ctx.engine.commit(log, retry, reply);
    return reply;
  };
}

/**
 * True when the update changed nothing (mongod does not count or journal such no-ops): the
 * two documents would serialize to the same BSON. Updates copy only the paths they touch, so
 * most of the walk is reference equality; serializing both documents (the first version) cost
 * more than the update itself on large documents.
 */
export function unchanged(previous: Document, next: Document): boolean {
  return sameBson(previous, next);
}

/** Whether `a` and `b` would encode to the same BSON. */
function sameBson(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b); // 0 and -0 differ in BSON
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((value, index) => sameBson(value, b[index]));
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    const otherKeys = Object.keys(b);
    // Field order is part of a BSON document.
    return keys.length === otherKeys.length && keys.every((key, index) => key === otherKeys[index] && sameBson(a[key], b[key]));
  }
  // ObjectId, Long, Decimal128, Binary, RegExp…: compare their encodings.
  return Buffer.compare(serialize({ v: a }), serialize({ v: b })) === 0;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
