/** update: multi, upsert, arrayFilters, replacement documents; per-statement writeErrors. */
import type { Document } from 'bson';
import type { Catalog } from '../engine/catalog.js';
import type { WriteLog } from '../engine/journal-ops.js';
import { ErrorCodes, asServerFailure, failure } from '../errors.js';
import { selectDocuments } from '../query/select.js';
import { applyUpdate, buildUpsertDocument, isOperatorUpdate, validateOperatorUpdate } from '../update/apply-update.js';
import type { UpdateSpec } from '../update/apply-update.js';
import type { CommandContext, CommandHandler } from './context.js';
import { targetCollection } from './context.js';
import { prepareForInsert } from './insert.js';
import { writeCommand } from './write-support.js';

interface StatementResult {
  matched: number;
  modified: number;
  upsertedId?: unknown;
}

export function validateUpdateSpec(update: unknown, multi: boolean, arrayFilters: unknown): UpdateSpec {
  if (update === null || typeof update !== 'object') {
    throw failure(ErrorCodes.FailedToParse, 'Update argument must be either an object or an array');
  }
  if (multi && !Array.isArray(update) && !isOperatorUpdate(update as Document) && Object.keys(update).length > 0) {
    throw failure(ErrorCodes.FailedToParse, 'multi update is not supported for replacement-style update');
  }
  if (!Array.isArray(update) && isOperatorUpdate(update as Document)) validateOperatorUpdate(update as Document, arrayFilters);
  return update as UpdateSpec;
}

function runStatement(ctx: CommandContext, catalog: Catalog, statement: Document, log: WriteLog): StatementResult {
  const name = targetCollection(ctx);
  const filter = (statement.q ?? {}) as Document;
  const multi = statement.multi === true;
  const update = validateUpdateSpec(statement.u, multi, statement.arrayFilters);
  const collection = catalog.get(ctx.db, name);
  const matches = selectDocuments(collection, filter, { limit: multi ? 0 : 1, sort: statement.sort as Document | undefined });
  let modified = 0;
  for (const doc of matches) {
    const next = applyUpdate(doc, update, { filter, arrayFilters: statement.arrayFilters, isInsert: false });
    if (catalog.replace(collection as NonNullable<typeof collection>, doc, next, log)) modified += 1;
  }
  if (matches.length > 0 || statement.upsert !== true) return { matched: matches.length, modified };
  const inserted = prepareForInsert(buildUpsertDocument(filter, update));
  catalog.insert(catalog.getOrCreate(ctx.db, name, log), inserted, log);
  return { matched: 0, modified: 0, upsertedId: inserted._id };
}

export const updateCommand: CommandHandler = writeCommand((ctx, log) => {
  const statements = ctx.command.updates;
  if (!Array.isArray(statements)) throw failure(ErrorCodes.FailedToParse, "BSON field 'update.updates' is missing but a required field");
  const ordered = ctx.command.ordered !== false;
  let n = 0;
  let nModified = 0;
  const upserted: Document[] = [];
  const writeErrors: Document[] = [];
  for (let index = 0; index < statements.length; index++) {
    try {
      const result = runStatement(ctx, ctx.engine.catalog, statements[index] as Document, log);
      n += result.matched;
      nModified += result.modified;
      if (result.upsertedId !== undefined) {
        n += 1;
        upserted.push({ index, _id: result.upsertedId });
      }
    } catch (error) {
      writeErrors.push(asServerFailure(error).toWriteError(index));
      if (ordered) break;
    }
  }
  const reply: Document = { n, nModified, ok: 1 };
  if (upserted.length > 0) reply.upserted = upserted;
  if (writeErrors.length > 0) reply.writeErrors = writeErrors;
  return reply;
});
