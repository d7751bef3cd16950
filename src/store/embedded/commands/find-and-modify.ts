/**
 * findAndModify: one document, optionally sorted, updated or removed atomically.
 * Errors (E11000 included) are top-level command errors, unlike the write commands.
 */
import type { Document } from 'bson';
import { ErrorCodes, failure } from '../errors.js';
import { projectDocuments } from '../query/projection.js';
import { selectDocuments } from '../query/select.js';
import { applyUpdate, buildUpsertDocument } from '../update/apply-update.js';
import type { CommandHandler } from './context.js';
import { optionalDocument, targetCollection } from './context.js';
import { prepareForInsert } from './insert.js';
import { validateUpdateSpec } from './update.js';
import { writeCommand } from './write-support.js';

function projected(doc: Document | null, fields: Document | undefined): Document | null {
  if (doc === null) return null;
  return projectDocuments([doc], fields)[0] ?? null;
}

export const findAndModifyCommand: CommandHandler = writeCommand((ctx, log) => {
  const { command } = ctx;
  const { catalog } = ctx.engine;
  const name = targetCollection(ctx);
  const filter = optionalDocument(command.query, 'query') ?? {};
  const fields = optionalDocument(command.fields, 'fields');
  const remove = command.remove === true;
  if (!remove && command.update === undefined) {
    throw failure(ErrorCodes.FailedToParse, 'Either an update or remove=true must be specified');
  }
  if (remove && (command.update !== undefined || command.upsert === true || command.new === true)) {
    throw failure(ErrorCodes.FailedToParse, 'Cannot specify both an update and remove=true');
  }
  const collection = catalog.get(ctx.db, name);
  const [found] = selectDocuments(collection, filter, { sort: optionalDocument(command.sort, 'sort'), limit: 1 });

  if (remove) {
    if (found === undefined || collection === undefined) return { lastErrorObject: { n: 0 }, value: null, ok: 1 };
    catalog.remove(collection, found, log);
    return { lastErrorObject: { n: 1 }, value: projected(found, fields), ok: 1 };
  }

  const update = validateUpdateSpec(command.update, false, command.arrayFilters);
  const returnNew = command.new === true;
  if (found !== undefined && collection !== undefined) {
    const next = applyUpdate(found, update, { filter, arrayFilters: command.arrayFilters, isInsert: false });
    catalog.replace(collection, found, next, log);
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: projected(returnNew ? next : found, fields), ok: 1 };
  }
  if (command.upsert !== true) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null, ok: 1 };
  const inserted = prepareForInsert(buildUpsertDocument(filter, update));
  catalog.insert(catalog.getOrCreate(ctx.db, name, log), inserted, log);
  return {
    lastErrorObject: { n: 1, updatedExisting: false, upserted: inserted._id },
    value: returnNew ? projected(inserted, fields) : null,
    ok: 1,
  };
});
