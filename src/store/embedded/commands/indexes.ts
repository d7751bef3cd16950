/** createIndexes, listIndexes, dropIndexes. */
import type { Document } from 'bson';
import { ID_INDEX_SPEC } from '../engine/catalog.js';
import type { Catalog } from '../engine/catalog.js';
import type { Collection } from '../engine/collection.js';
import { WriteLog } from '../engine/journal-ops.js';
import { ErrorCodes, failure } from '../errors.js';
import type { CommandHandler } from './context.js';
import { cursorReply, optionalDocument, optionalNumber, targetCollection } from './context.js';

/**
 * Like mongod, builds every requested index or none: when one spec fails, those built before it
 * in this command are dropped again and never journaled. Answers how many were new.
 */
function buildAllOrNone(catalog: Catalog, collection: Collection, specs: Document[], log: WriteLog): number {
  const built = new WriteLog();
  try {
    for (const spec of specs) {
      if (spec.key !== undefined && Object.values(spec.key as Document).some((direction) => typeof direction === 'string' && direction !== 'hashed')) {
        throw failure(ErrorCodes.CannotCreateIndex, `text and geo indexes are not supported by the embedded store (index ${String(spec.name)})`);
      }
      catalog.createIndex(collection, spec, built);
    }
  } catch (error) {
    for (const op of built.ops) if (op.op === 'createIndex') collection.dropIndex(String(op.spec.name));
    throw error;
  }
  for (const op of built.ops) log.record(op);
  return built.ops.length;
}

const createIndexes: CommandHandler = async (ctx) => {
  const specs = ctx.command.indexes;
  if (!Array.isArray(specs) || specs.length === 0) {
    throw failure(ErrorCodes.BadValue, 'Must specify at least one index to create');
  }
  const { catalog } = ctx.engine;
  const name = targetCollection(ctx);
  const log = new WriteLog();
  const existed = catalog.get(ctx.db, name) !== undefined;
  const collection = catalog.getOrCreate(ctx.db, name, log);
  const numIndexesBefore = collection.indexes.size + 1;
  let created = 0;
  try {
    created = buildAllOrNone(ctx.engine.catalog, collection, specs as Document[], log);
  } finally {
    await ctx.engine.commit(log);
  }
  const reply: Document = {
    numIndexesBefore,
    numIndexesAfter: collection.indexes.size + 1,
    createdCollectionAutomatically: !existed,
    ok: 1,
  };
  if (created === 0) reply.note = 'all indexes already exist';
  return reply;
};

const listIndexes: CommandHandler = (ctx) => {
  const collection = ctx.engine.catalog.get(ctx.db, targetCollection(ctx));
  if (collection === undefined) {
    throw failure(ErrorCodes.NamespaceNotFound, `ns does not exist: ${ctx.db}.${targetCollection(ctx)}`);
  }
  const specs = [ID_INDEX_SPEC, ...[...collection.indexes.values()].map((index) => index.spec)];
  const cursor = optionalDocument(ctx.command.cursor, 'cursor');
  return cursorReply(ctx, `${ctx.db}.$cmd.listIndexes.${collection.name}`, specs, optionalNumber(cursor?.batchSize));
};

function indexNamesToDrop(requested: unknown, specs: Document[]): string[] {
  if (requested === '*') return specs.map((spec) => String(spec.name));
  if (typeof requested === 'string') return [requested];
  if (Array.isArray(requested)) return requested.map(String);
  if (requested !== null && typeof requested === 'object') {
    const pattern = JSON.stringify(requested);
    const match = specs.find((spec) => JSON.stringify(spec.key) === pattern);
    if (match === undefined) throw failure(ErrorCodes.IndexNotFound, `can't find index with key: ${pattern}`);
    return [String(match.name)];
  }
  throw failure(ErrorCodes.TypeMismatch, "BSON field 'dropIndexes.index' is missing but a required field");
}

const dropIndexes: CommandHandler = async (ctx) => {
  const { catalog } = ctx.engine;
  const collection = catalog.get(ctx.db, targetCollection(ctx));
  if (collection === undefined) {
    throw failure(ErrorCodes.NamespaceNotFound, `ns not found ${ctx.db}.${targetCollection(ctx)}`);
  }
  const nIndexesWas = collection.indexes.size + 1;
  const names = indexNamesToDrop(ctx.command.index, [...collection.indexes.values()].map((index) => index.spec));
  if (names.includes('_id_')) throw failure(ErrorCodes.InvalidOptions, 'cannot drop _id index');
  const log = new WriteLog();
  try {
    for (const name of names) catalog.dropIndex(collection, name, log);
  } finally {
    await ctx.engine.commit(log);
  }
  return { nIndexesWas, ok: 1 };
};

export const indexCommands: Record<string, CommandHandler> = { createIndexes, listIndexes, dropIndexes };
