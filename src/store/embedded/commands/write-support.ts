/**
 * Shared plumbing of write commands: retryable-write deduplication, the WriteLog commit,
 * and the refusal of multi-document transactions.
 */
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
      // Anything already applied must still reach the journal before we answer, and an error
      // with nothing to journal (E11000) may rest on another client's write not yet durable.
      await ctx.engine.commit(log);
      throw error;
    }
    await ctx.engine.commit(log, retry, reply);
    return reply;
  };
}
