/** find, getMore, killCursors, count and distinct. */
import { Long, calculateObjectSize } from 'bson';
import { canonicalKey } from '../bson/canonical-key.js';
import { compareValues } from '../bson/compare.js';
import { MAX_BSON_OBJECT_SIZE } from '../engine/document-size.js';
import { EMPTY_ARRAY, MISSING, indexValuesAtPath } from '../engine/paths.js';
import { ErrorCodes, failure } from '../errors.js';
import { projectDocuments } from '../query/projection.js';
import { selectDocuments } from '../query/select.js';
import type { CommandHandler } from './context.js';
import { cursorReply, existingCollection, optionalDocument, optionalNumber, targetCollection } from './context.js';

const find: CommandHandler = (ctx) => {
  const { command } = ctx;
  const limit = optionalNumber(command.limit) ?? 0;
  const docs = selectDocuments(existingCollection(ctx), optionalDocument(command.filter, 'filter'), {
    sort: optionalDocument(command.sort, 'sort'),
    skip: optionalNumber(command.skip),
    limit,
  });
  const projectedDocs = projectDocuments(docs, optionalDocument(command.projection, 'projection'));
  // A negative limit (legacy) or singleBatch asks for one batch and no cursor.
  const singleBatch = command.singleBatch === true || limit < 0;
  return cursorReply(ctx, `${ctx.db}.${targetCollection(ctx)}`, projectedDocs, optionalNumber(command.batchSize), singleBatch);
};

function toLong(value: unknown): Long {
  if (value instanceof Long) return value;
  if (typeof value === 'number') return Long.fromNumber(value);
  throw failure(ErrorCodes.TypeMismatch, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'");
}

const getMore: CommandHandler = (ctx) => {
  const id = toLong(ctx.command.getMore);
  const collection = ctx.command.collection;
  const ns = `${ctx.db}.${String(collection)}`;
  const batch = ctx.engine.cursors.next(id, ns, optionalNumber(ctx.command.batchSize));
  if (batch === undefined) throw failure(ErrorCodes.CursorNotFound, `cursor id ${id.toString()} not found`);
  return { cursor: { nextBatch: batch.docs, id: batch.exhausted ? Long.ZERO : id, ns }, ok: 1 };
};

const killCursors: CommandHandler = (ctx) => {
  const ids = Array.isArray(ctx.command.cursors) ? ctx.command.cursors : [];
  const cursorsKilled: Long[] = [];
  const cursorsNotFound: Long[] = [];
  for (const raw of ids) {
    const id = toLong(raw);
    (ctx.engine.cursors.kill(id) ? cursorsKilled : cursorsNotFound).push(id);
  }
  return { cursorsKilled, cursorsNotFound, cursorsAlive: [], cursorsUnknown: [], ok: 1 };
};

const count: CommandHandler = (ctx) => {
  const collection = existingCollection(ctx);
  const query = optionalDocument(ctx.command.query, 'query');
  const skip = optionalNumber(ctx.command.skip) ?? 0;
  const limit = Math.abs(optionalNumber(ctx.command.limit) ?? 0);
  if (collection === undefined) return { n: 0, ok: 1 };
  // estimatedDocumentCount: no filter, answered from the map size.
  const total = query === undefined || Object.keys(query).length === 0
    ? collection.documents.size
    : selectDocuments(collection, query).length;
  const afterSkip = Math.max(0, total - skip);
  return { n: limit > 0 ? Math.min(afterSkip, limit) : afterSkip, ok: 1 };
};

const distinct: CommandHandler = (ctx) => {
  const key = ctx.command.key;
  if (typeof key !== 'string') throw failure(ErrorCodes.TypeMismatch, "BSON field 'distinct.key' is missing but a required field");
  const docs = selectDocuments(existingCollection(ctx), optionalDocument(ctx.command.query, 'query'));
  const seen = new Map<string, unknown>();
  const parts = key.split('.');
  for (const doc of docs) {
    // distinct unwinds arrays: each element is a separate value.
    for (const value of indexValuesAtPath(doc, parts)) {
      if (value === MISSING || value === EMPTY_ARRAY) continue;
      const id = canonicalKey(value);
      if (!seen.has(id)) seen.set(id, value);
    }
  }
  const values = [...seen.values()].sort(compareValues);
  // mongod answers distinct in one document, so its values must fit in one too.
  if (calculateObjectSize({ values }) > MAX_BSON_OBJECT_SIZE) throw failure(ErrorCodes.Location17217, 'distinct too big, 16mb cap');
  return { values, ok: 1 };
};

export const readCommands: Record<string, CommandHandler> = { find, getMore, killCursors, count, distinct };
