/** Databases and collections: listDatabases, listCollections, create, drop, dropDatabase, stats. */
import { calculateObjectSize } from 'bson';
import type { Document } from 'bson';
import { ID_INDEX_SPEC } from '../engine/catalog.js';
import { WriteLog } from '../engine/journal-ops.js';
import { ErrorCodes, failure } from '../errors.js';
import { compileFilter } from '../query/matcher.js';
import type { CommandContext, CommandHandler } from './context.js';
import { cursorReply, optionalDocument, optionalNumber, targetCollection } from './context.js';

function approximateSize(ctx: CommandContext, db: string): number {
  let bytes = 0;
  for (const collection of ctx.engine.catalog.collectionsOf(db)) {
    for (const doc of collection.documents.values()) bytes += calculateObjectSize(doc);
  }
  return bytes;
}

const listDatabases: CommandHandler = (ctx) => {
  const filter = compileFilter(optionalDocument(ctx.command.filter, 'filter'));
  const nameOnly = ctx.command.nameOnly === true;
  const databases = ctx.engine.catalog
    .databaseNames()
    .map((name) => (nameOnly ? { name } : { name, sizeOnDisk: approximateSize(ctx, name), empty: false }))
    .filter((entry) => filter(entry));
  if (nameOnly) return { databases, ok: 1 };
  const totalSize = databases.reduce((sum, entry) => sum + Number((entry as Document).sizeOnDisk ?? 0), 0);
  return { databases, totalSize, totalSizeMb: Math.round(totalSize / 1024 / 1024), ok: 1 };
};

const listCollections: CommandHandler = (ctx) => {
  const filter = compileFilter(optionalDocument(ctx.command.filter, 'filter'));
  const nameOnly = ctx.command.nameOnly === true;
  const entries = ctx.engine.catalog
    .collectionsOf(ctx.db)
    .map((collection) =>
      nameOnly
        ? { name: collection.name, type: 'collection' }
        : {
            name: collection.name,
            type: 'collection',
            options: collection.options,
            info: { readOnly: false },
            idIndex: ID_INDEX_SPEC,
          },
    )
    .filter((entry) => filter(entry))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const cursor = optionalDocument(ctx.command.cursor, 'cursor');
  return cursorReply(ctx, `${ctx.db}.$cmd.listCollections`, entries, optionalNumber(cursor?.batchSize));
};

/** Options kept on the collection (echoed by listCollections). */
function collectionOptions(command: Document): Document {
  const { create: _create, $db: _db, lsid: _lsid, $clusterTime: _clusterTime, writeConcern: _writeConcern, txnNumber: _txnNumber, ...options } = command;
  for (const key of Object.keys(options)) if (key.startsWith('$') || key === 'apiVersion' || key === 'apiStrict') delete options[key];
  return options;
}

const create: CommandHandler = async (ctx) => {
  if (ctx.command.capped === true || ctx.command.viewOn !== undefined || ctx.command.timeseries !== undefined) {
    throw failure(ErrorCodes.CommandNotSupported, 'capped collections, views and time-series collections are not supported by the embedded store');
  }
  const log = new WriteLog();
  try {
    ctx.engine.catalog.create(ctx.db, targetCollection(ctx), collectionOptions(ctx.command), log);
  } finally {
    // NamespaceExists may rest on another client's create that is not yet durable.
    await ctx.engine.commit(log);
  }
  return { ok: 1 };
};

const drop: CommandHandler = async (ctx) => {
  const name = targetCollection(ctx);
  const collection = ctx.engine.catalog.get(ctx.db, name);
  // Since MongoDB 7.0, dropping a missing collection succeeds.
  if (collection === undefined) {
    await ctx.engine.barrier();
    return { ok: 1 };
  }
  const nIndexesWas = collection.indexes.size + 1;
  const log = new WriteLog();
  ctx.engine.catalog.drop(ctx.db, name, log);
  await ctx.engine.commit(log);
  return { nIndexesWas, ns: collection.ns, ok: 1 };
};

const dropDatabase: CommandHandler = async (ctx) => {
  const log = new WriteLog();
  ctx.engine.catalog.dropDatabase(ctx.db, log);
  await ctx.engine.commit(log);
  return { dropped: ctx.db, ok: 1 };
};

const collStats: CommandHandler = (ctx) => {
  const collection = ctx.engine.catalog.get(ctx.db, targetCollection(ctx));
  const docs = collection === undefined ? [] : [...collection.documents.values()];
  const size = docs.reduce((sum, doc) => sum + calculateObjectSize(doc), 0);
  return {
    ns: `${ctx.db}.${targetCollection(ctx)}`,
    count: docs.length,
    size,
    avgObjSize: docs.length === 0 ? 0 : Math.round(size / docs.length),
    storageSize: size,
    nindexes: collection === undefined ? 0 : collection.indexes.size + 1,
    ok: 1,
  };
};

const dbStats: CommandHandler = (ctx) => {
  const collections = ctx.engine.catalog.collectionsOf(ctx.db);
  const objects = collections.reduce((sum, collection) => sum + collection.documents.size, 0);
  const dataSize = approximateSize(ctx, ctx.db);
  return { db: ctx.db, collections: collections.length, views: 0, objects, dataSize, storageSize: dataSize, indexes: collections.reduce((sum, c) => sum + c.indexes.size + 1, 0), ok: 1 };
};

export const catalogCommands: Record<string, CommandHandler> = {
  listDatabases,
  listCollections,
  create,
  drop,
  dropDatabase,
  collStats,
  dbStats,
};
