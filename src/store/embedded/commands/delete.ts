/** delete: `limit` 1 removes the first match, 0 removes all matches. */
import type { Document } from 'bson';
import { ErrorCodes, asServerFailure, failure } from '../errors.js';
import { selectDocuments } from '../query/select.js';
import type { CommandHandler } from './context.js';
import { targetCollection } from './context.js';
import { writeCommand } from './write-support.js';

export const deleteCommand: CommandHandler = writeCommand((ctx, log) => {
  const statements = ctx.command.deletes;
  if (!Array.isArray(statements)) throw failure(ErrorCodes.FailedToParse, "BSON field 'delete.deletes' is missing but a required field");
  const ordered = ctx.command.ordered !== false;
  const { catalog } = ctx.engine;
  const collection = catalog.get(ctx.db, targetCollection(ctx));
  let n = 0;
  const writeErrors: Document[] = [];
  for (let index = 0; index < statements.length; index++) {
    const statement = statements[index] as Document;
    try {
      const limit = Number(statement.limit ?? 0);
      if (limit !== 0 && limit !== 1) throw failure(ErrorCodes.FailedToParse, `The limit field in delete objects must be 0 or 1. Got ${limit}`);
      const matches = selectDocuments(collection, statement.q as Document | undefined, { limit });
      for (const doc of matches) catalog.remove(collection as NonNullable<typeof collection>, doc, log);
      n += matches.length;
    } catch (error) {
      writeErrors.push(asServerFailure(error).toWriteError(index));
      if (ordered) break;
    }
  }
  const reply: Document = { n, ok: 1 };
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  return reply;
});
