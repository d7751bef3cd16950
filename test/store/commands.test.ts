/**
 * The commands mongoose and the shell send, at the driver level: handshake and server info,
 * catalog commands, cursors (getMore/killCursors), count/distinct/aggregate, findAndModify,
 * delete limits, projections and MongoDB's error for unknown commands.
 */
import t from 'tap';
import { Long } from 'mongodb';
import { connectClient, startTestServer, usingRealMongo } from './helpers.js';
import type { AnyDocument } from './helpers.js';

const server = await startTestServer(t, 'commands');
const client = await connectClient(t, server.uri);
const db = client.db(server.dbName);

async function failureOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected the command to fail');
}

t.test('hello advertises a writable replica-set primary', async (t) => {
  const hello = await db.admin().command({ hello: 1 });
  t.equal(hello.isWritablePrimary, true);
  t.type(hello.setName, 'string');
  t.ok(Array.isArray(hello.hosts) && hello.hosts.includes(hello.me), 'hosts lists me');
  t.equal(hello.primary, hello.me);
  t.ok(hello.maxWireVersion >= 21);
  t.type(hello.logicalSessionTimeoutMinutes, 'number');
  t.type(hello.maxBsonObjectSize, 'number');
  t.ok(hello.localTime instanceof Date);
  if (!usingRealMongo) {
    // Deliberate: topologyVersion would switch the driver to streaming hello.
    t.notOk('topologyVersion' in hello);
    t.notOk('compression' in hello);
  }
  const legacy = await db.admin().command({ isMaster: 1 });
  t.equal(legacy.ismaster, true);
});

t.test('ping, buildInfo, getParameter, endSessions', async (t) => {
  t.equal((await db.admin().command({ ping: 1 })).ok, 1);
  const info = await db.admin().command({ buildInfo: 1 });
  t.match(info.version, /^\d+\.\d+/);
  const fcv = await db.admin().command({ getParameter: 1, featureCompatibilityVersion: 1 });
  t.match(fcv.featureCompatibilityVersion?.version, /^\d+\.\d+$/);
  const session = client.startSession();
  await db.collection('touch').findOne({}, { session });
  await session.endSession();
  t.equal((await db.admin().command({ ping: 1 })).ok, 1, 'the connection is still healthy after endSessions');
});

t.test('unknown commands answer CommandNotFound', async (t) => {
  const error = await failureOf(db.command({ frobnicate: 1 }));
  t.equal(error.code, 59);
  t.equal(error.codeName, 'CommandNotFound');
  t.match(String(error.errmsg ?? error.message), /no such command: 'frobnicate'/);
});

t.test('create, listCollections, listDatabases, drop, dropDatabase', async (t) => {
  await db.createCollection('alpha');
  t.equal((await failureOf(db.command({ create: 'alpha' }))).code, 48, 'NamespaceExists');
  await db.collection('beta').insertOne({ x: 1 });
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
  t.ok(names.includes('alpha') && names.includes('beta'));
  const filtered = await db.listCollections({ name: 'beta' }).toArray();
  t.same(filtered.map((c) => c.name), ['beta']);
  t.equal(filtered[0]?.type, 'collection');
  const databases = await db.admin().listDatabases();
  t.ok(databases.databases.some((entry) => entry.name === server.dbName));
  t.equal(await db.collection('beta').drop(), true);
  t.notOk((await db.listCollections({ name: 'beta' }).toArray()).length);
  const other = client.db(`${server.dbName}_x`);
  await other.collection('c').insertOne({ y: 1 });
  t.equal(await other.dropDatabase(), true);
  t.notOk((await db.admin().listDatabases()).databases.some((entry) => entry.name === `${server.dbName}_x`));
});

t.test('find cursors: int64 ids, getMore and killCursors', async (t) => {
  const coll = db.collection<AnyDocument>('cursor');
  await coll.insertMany(Array.from({ length: 7 }, (_, i) => ({ _id: i })));
  const first = await db.command({ find: 'cursor', filter: {}, sort: { _id: 1 }, batchSize: 3 }, { promoteLongs: false });
  t.ok(first.cursor.id instanceof Long, 'cursor id is an int64');
  t.same(first.cursor.firstBatch.map((doc: AnyDocument) => doc._id), [0, 1, 2]);
  t.equal(first.cursor.ns, `${server.dbName}.cursor`);
  const more = await db.command({ getMore: first.cursor.id, collection: 'cursor', batchSize: 3 }, { promoteLongs: false });
  t.same(more.cursor.nextBatch.map((doc: AnyDocument) => doc._id), [3, 4, 5]);
  const killed = await db.command({ killCursors: 'cursor', cursors: [first.cursor.id] }, { promoteLongs: false });
  t.same(killed.cursorsKilled.map(String), [String(first.cursor.id)]);
  t.equal((await failureOf(db.command({ getMore: first.cursor.id, collection: 'cursor' }))).code, 43, 'CursorNotFound');

  const all = await coll.find({}).batchSize(2).toArray();
  t.equal(all.length, 7, 'the driver drains a cursor through getMore');
  const last = await db.command({ find: 'cursor', filter: { _id: { $gte: 5 } }, batchSize: 10 }, { promoteLongs: false });
  t.equal(String(last.cursor.id), '0', 'an exhausted cursor has id 0');
});

t.test('projection, sort, skip and limit', async (t) => {
  const coll = db.collection<AnyDocument>('proj');
  await coll.insertMany([
    { _id: 1, a: { b: 1, c: 2 }, d: 'x', list: [1, 2, 3] },
    { _id: 2, a: { b: 2, c: 3 }, d: 'y', list: [4] },
    { _id: 3, a: { b: 3, c: 4 }, d: 'z', list: [] },
  ]);
  t.same(await coll.find({}, { projection: { 'a.b': 1 } }).sort({ _id: -1 }).limit(2).toArray(), [
    { _id: 3, a: { b: 3 } },
    { _id: 2, a: { b: 2 } },
  ]);
  t.same(await coll.find({ _id: 1 }, { projection: { a: 0, list: 0 } }).toArray(), [{ _id: 1, d: 'x' }]);
  t.same(await coll.find({ _id: 1 }, { projection: { _id: 0, list: { $slice: 2 } } }).toArray(), [
    { a: { b: 1, c: 2 }, d: 'x', list: [1, 2] },
  ]);
  t.same((await coll.find({}).sort({ d: 1 }).skip(1).toArray()).map((doc) => doc._id), [2, 3]);
  t.same((await coll.find({}).sort({ $natural: -1 }).limit(2).toArray()).map((doc) => doc._id), [3, 2]);
});

t.test('top-level projections keep the document’s field order, _id first, as mongod answers', async (t) => {
  const coll = db.collection<AnyDocument>('proj_top');
  await coll.insertOne({ z: 1, _id: 'k', a: { b: 1 }, m: [1, 2], q: null });
  const keysOf = async (projection: AnyDocument): Promise<string[]> => Object.keys((await coll.findOne({ _id: 'k' }, { projection })) ?? {});
  t.same(await keysOf({ q: 1, z: 1 }), ['_id', 'z', 'q'], 'inclusion: document order, not the projection’s');
  t.same(await keysOf({ q: true, z: 1, _id: 0 }), ['z', 'q']);
  t.same(await keysOf({ a: 0, q: false }), ['_id', 'z', 'm'], 'exclusion');
  t.same(await keysOf({ a: 0, _id: 1 }), ['_id', 'z', 'm', 'q']);
  t.same(await keysOf({ _id: 1 }), ['_id']);
  t.same(await keysOf({ _id: 0 }), ['z', 'a', 'm', 'q']);
  t.same(await keysOf({ missing: 1 }), ['_id'], 'an absent field is left out');
  t.same(await coll.findOne({ _id: 'k' }, { projection: { a: 1, m: 1 } }), { _id: 'k', a: { b: 1 }, m: [1, 2] }, 'values whole');
  await t.rejects(coll.findOne({ _id: 'k' }, { projection: { a: 1, z: 0 } }), 'inclusion mixed with exclusion is refused');
  t.same(await coll.findOne({ _id: 'k' }, { projection: { 'a.b': 1, z: 1 } }), { _id: 'k', z: 1, a: { b: 1 } }, 'dotted paths still served');
});

t.test('inclusions of dotted paths keep the document’s order at every level, as mongod answers', async (t) => {
  const coll = db.collection<AnyDocument>('proj_dotted');
  await coll.insertOne({ _id: 'd', z: 1, status: { slots: [1], lastSeenAt: new Date(5), battery: 80, nested: { y: 1, x: 2 } }, org: 'o', flat: 7, list: [{ b: 1, c: 2 }, 3] });
  const found = await coll.findOne({ _id: 'd' }, { projection: { 'status.nested.x': 1, org: 1, 'status.lastSeenAt': 1, 'flat.deep': 1, 'missing.field': 1 } });
  t.same(found, { _id: 'd', status: { lastSeenAt: new Date(5), nested: { x: 2 } }, org: 'o' }, 'a scalar or absent field on a dotted path is left out');
  t.same(Object.keys(found ?? {}), ['_id', 'status', 'org']);
  t.same(Object.keys(found?.status ?? {}), ['lastSeenAt', 'nested']);
  t.same(await coll.findOne({ _id: 'd' }, { projection: { 'status.none': 1, _id: 0 } }), { status: {} }, 'a subdocument without the field stays, empty');
  t.same(await coll.findOne({ _id: 'd' }, { projection: { 'list.b': 1, _id: 0 } }), { list: [{ b: 1 }] }, 'array elements: documents projected, others left out');
  await coll.insertOne({ _id: 'e', list: { b: 2, c: 3 }, org: 'p' });
  const mixed = await coll.find({ _id: { $in: ['d', 'e'] } }, { projection: { 'list.b': 1, org: 1 } }).sort({ _id: 1 }).toArray();
  t.same(mixed, [{ _id: 'd', org: 'o', list: [{ b: 1 }] }, { _id: 'e', list: { b: 2 }, org: 'p' }], 'an array on the path in one document, a subdocument in another');
  t.same(mixed.map((doc) => Object.keys(doc)[0]), ['_id', '_id'], '_id first in both');
  await t.rejects(coll.findOne({ _id: 'd' }, { projection: { status: 1, 'status.battery': 1 } }), 'a path and its prefix collide');
  t.same(await coll.findOne({ _id: 'd' }), { _id: 'd', z: 1, status: { slots: [1], lastSeenAt: new Date(5), battery: 80, nested: { y: 1, x: 2 } }, org: 'o', flat: 7, list: [{ b: 1, c: 2 }, 3] }, 'the stored document is whole');
});

t.test('exclusions of dotted paths answer without them and leave the stored document whole', async (t) => {
  const coll = db.collection<AnyDocument>('proj_nested');
  const stored = { _id: 'n', secret: 's', schedule: { payload: { v: 1 }, version: 1 }, list: [{ b: 1, c: 2 }, 3], z: 1 };
  await coll.insertOne({ ...stored });
  const found = await coll.findOne({ _id: 'n' }, { projection: { secret: 0, 'schedule.payload': 0 } });
  t.same(found, { _id: 'n', schedule: { version: 1 }, list: [{ b: 1, c: 2 }, 3], z: 1 });
  t.same(Object.keys(found ?? {}), ['_id', 'schedule', 'list', 'z'], 'in the document’s order');
  t.same(await coll.findOne({ _id: 'n' }, { projection: { 'list.b': 0, 'schedule.missing': 0, _id: 0 } }), { secret: 's', schedule: { payload: { v: 1 }, version: 1 }, list: [{ c: 2 }, 3], z: 1 }, 'in each document of an array');
  t.same(await coll.find({ _id: 'n' }, { projection: { 'schedule.payload': 0, list: { $slice: 1 } } }).toArray(), [{ _id: 'n', secret: 's', schedule: { version: 1 }, list: [{ b: 1, c: 2 }], z: 1 }], 'with a $slice');
  t.same(await coll.findOneAndUpdate({ _id: 'n' }, { $set: { z: 2 } }, { returnDocument: 'after', projection: { 'schedule.version': 0 } }), { ...stored, schedule: { payload: { v: 1 } }, z: 2 }, 'findAndModify too');
  t.same(await coll.findOne({ _id: 'n' }), { ...stored, z: 2 }, 'the stored document kept every field');
});

t.test('aggregations and pipeline updates leave stored documents whole', async (t) => {
  const coll = db.collection<AnyDocument>('agg_untouched');
  await coll.createIndex({ 'a.b': 1 });
  await coll.insertMany([
    { _id: 1, k: 'x', a: { b: 1, c: 2 }, list: [{ s: 1, t: 2 }], pos: [{ x: 1 }, { y: 2 }] },
    { _id: 2, k: 'x', a: { b: 2, c: 3 }, list: [], pos: [] },
  ]);
  const before = await coll.find({}).sort({ _id: 1 }).toArray();
  t.same(await coll.aggregate([{ $match: { _id: 1 } }, { $project: { 'a.b': 0, 'list.s': 0 } }]).toArray(), [{ _id: 1, k: 'x', a: { c: 2 }, list: [{ t: 2 }], pos: [{ x: 1 }, { y: 2 }] }]);
  t.same(await coll.aggregate([{ $project: { 'a.b': 0 } }, { $sort: { _id: 1 } }]).toArray(), before.map((doc) => ({ ...doc, a: { c: doc.a.c } })));
  t.same(
    await coll.aggregate([{ $group: { _id: '$k', docs: { $push: '$$ROOT' } } }, { $project: { 'docs.a.b': 0 } }]).toArray(),
    [{ _id: 'x', docs: before.map((doc) => ({ ...doc, a: { c: doc.a.c } })) }],
    'after a $group that pushed whole documents',
  );
  await coll.aggregate([{ $project: { 'pos.0': 1, 'pos.1': 1 } }]).toArray();
  t.same(await coll.find({}).sort({ _id: 1 }).toArray(), before, 'every stored document kept every field');
  t.same((await coll.find({ 'a.b': 1 }).toArray()).map((doc) => doc._id), [1], 'and the index still agrees');

  await coll.updateMany({}, [{ $set: { shared: { $literal: { b: 1, c: 2 } } } }]);
  await coll.aggregate([{ $match: { _id: 1 } }, { $project: { 'shared.b': 0 } }]).toArray();
  t.same((await coll.find({}).sort({ _id: 1 }).toArray()).map((doc) => doc.shared), [{ b: 1, c: 2 }, { b: 1, c: 2 }], 'a pipeline update’s literal is each document’s own');
});

t.test('count, countDocuments, estimatedDocumentCount and distinct', async (t) => {
  const coll = db.collection<AnyDocument>('counting');
  await coll.insertMany([
    { tags: ['a', 'b'], n: 1 },
    { tags: ['b', 'c'], n: 2 },
    { tags: 'd', n: 2 },
    { n: 3 },
  ]);
  t.equal((await db.command({ count: 'counting', query: { n: 2 } })).n, 2);
  t.equal((await db.command({ count: 'counting', skip: 1, limit: 2 })).n, 2);
  t.equal((await db.command({ count: 'missing_collection' })).n, 0);
  t.equal(await coll.countDocuments({ n: { $gte: 2 } }), 3);
  t.equal(await coll.estimatedDocumentCount(), 4);
  t.same([...(await coll.distinct('tags'))].sort(), ['a', 'b', 'c', 'd'], 'distinct unwinds arrays');
  t.same([...(await coll.distinct('n', { n: { $lt: 3 } }))].sort(), [1, 2]);
});

t.test('delete with limit 1 and 0; findAndModify remove, sort and fields', async (t) => {
  const coll = db.collection<AnyDocument>('deleting');
  await coll.insertMany([{ k: 1, v: 3 }, { k: 1, v: 1 }, { k: 1, v: 2 }, { k: 2, v: 0 }]);
  t.equal((await coll.deleteOne({ k: 1 })).deletedCount, 1);
  const removed = await coll.findOneAndDelete({ k: 1 }, { sort: { v: -1 }, projection: { _id: 0, v: 1 } });
  t.same(removed, { v: 2 });
  const updated = await coll.findOneAndUpdate({ k: 2 }, { $set: { v: 9 } }, { returnDocument: 'after', projection: { _id: 0 } });
  t.same(updated, { k: 2, v: 9 });
  t.equal(await coll.findOneAndDelete({ k: 42 }), null);
  t.equal((await coll.deleteMany({})).deletedCount, 2);
});

t.test('aggregate: stages, cursor batches, and stored documents stay untouched', async (t) => {
  const coll = db.collection<AnyDocument>('orders');
  await coll.insertMany([
    { _id: 1, customer: 'a', items: [{ sku: 'x', qty: 2 }, { sku: 'y', qty: 1 }] },
    { _id: 2, customer: 'b', items: [{ sku: 'x', qty: 5 }] },
    { _id: 3, customer: 'a', items: [] },
  ]);
  const bySku = await coll
    .aggregate([
      { $unwind: '$items' },
      { $group: { _id: '$items.sku', qty: { $sum: '$items.qty' } } },
      { $sort: { qty: -1 } },
    ])
    .toArray();
  t.same(bySku, [{ _id: 'x', qty: 7 }, { _id: 'y', qty: 1 }]);
  const withCount = await coll.aggregate([{ $addFields: { count: { $size: '$items' } } }, { $match: { count: { $gt: 0 } } }, { $count: 'n' }]).toArray();
  t.same(withCount, [{ n: 2 }]);
  t.same(await coll.findOne({ _id: 1 }, { projection: { count: 1 } }), { _id: 1 }, '$addFields did not leak into storage');
  const batched = await coll.aggregate([{ $sort: { _id: 1 } }], { batchSize: 1 }).toArray();
  t.same(batched.map((doc) => doc._id), [1, 2, 3]);
  const countDocs = await coll.countDocuments({ customer: 'a' });
  t.equal(countDocs, 2);
});

t.test('documents over 16 MiB are refused as mongod refuses them, and nothing stored changes', async (t) => {
  const coll = db.collection<AnyDocument>('too_large');
  const overLimit = 'x'.repeat(16.5 * 1024 * 1024);
  const insert = await failureOf(coll.insertOne({ _id: 'big', overLimit }));
  t.equal(insert.code, 2, 'BadValue');
  t.match(insert.message, /object to insert too large\. size in bytes: \d+, max size: 16777216/);

  await coll.insertOne({ _id: 'small', n: 1 });
  const grown = await failureOf(coll.updateOne({ _id: 'small' }, { $set: { overLimit } }));
  t.equal(grown.code, 17419);
  t.match(grown.message, /Resulting document after update is larger than 16777216/);
  const half = 'y'.repeat(9 * 1024 * 1024);
  await coll.insertOne({ _id: 'half', half });
  t.equal((await failureOf(coll.updateOne({ _id: 'half' }, { $set: { again: half } }))).code, 17419, 'two fields under the limit, together over it');
  await coll.insertOne({ _id: 'patch', a: half, b: 'small', c: 1, d: 2 });
  t.equal((await failureOf(coll.updateOne({ _id: 'patch' }, { $set: { b: half } }))).code, 17419, 'an existing field grown past the limit');
  await coll.updateOne({ _id: 'patch' }, { $set: { b: 'tiny', c: 3 } });
  t.same(await coll.findOne({ _id: 'patch' }, { projection: { a: 0 } }), { _id: 'patch', b: 'tiny', c: 3, d: 2 }, 'a large document whose fields shrink or keep their size is updated');

  t.same(await coll.find({}, { projection: { _id: 1 } }).sort({ _id: 1 }).toArray(), [{ _id: 'half' }, { _id: 'patch' }, { _id: 'small' }], 'the large insert stored nothing');
  t.same(await coll.findOne({ _id: 'small' }), { _id: 'small', n: 1 }, 'the failed update changed nothing');
  t.same(Object.keys((await coll.findOne({ _id: 'half' })) ?? {}), ['_id', 'half']);
});

t.test('replies stay under 16 MiB: batches of large documents are split, oversized results refused', async (t) => {
  const coll = db.collection<AnyDocument>('large_results');
  const mib = 'z'.repeat(1024 * 1024);
  await coll.insertMany(Array.from({ length: 20 }, (_, i) => ({ _id: i, s: `${i}:${mib}` })));

  const all = await coll.find({}).sort({ _id: 1 }).toArray();
  t.equal(all.length, 20, 'a find of 20 MiB comes back whole, over several batches');
  t.ok(all.every((doc, i) => doc.s === `${i}:${mib}`), 'every document intact');
  const firstBatch = await db.command({ find: 'large_results', sort: { _id: 1 }, batchSize: 1000 });
  t.ok(firstBatch.cursor.firstBatch.length < 20 && firstBatch.cursor.firstBatch.length >= 15, 'the first batch stops near 16 MiB');
  await db.command({ killCursors: 'large_results', cursors: [firstBatch.cursor.id] });

  const grouped = await failureOf(coll.aggregate([{ $group: { _id: null, all: { $push: '$s' } } }]).toArray());
  if (!usingRealMongo) t.equal(grouped.code, 10334, 'a computed document over 16 MiB: BSONObjectTooLarge');
  else t.ok(grouped.code, 'a computed document over 16 MiB is refused');
  const distinct = await failureOf(coll.distinct('s'));
  t.equal(distinct.code, 17217, 'distinct values over 16 MiB');
  t.match(distinct.message, /distinct too big, 16mb cap/);
  t.equal(await coll.countDocuments({}), 20, 'the connection and the data are fine afterwards');

  // Many small documents: a batch's array keys and type bytes count towards its size too.
  const many = db.collection<AnyDocument>('many_small_results');
  for (let i = 0; i < 90; i++) await many.insertMany(Array.from({ length: 1000 }, (_, k) => ({ n: i * 1000 + k, s: 'q'.repeat(200) })));
  const found = await many.find({}).toArray();
  t.equal(found.length, 90_000, 'a 21 MiB result of small documents comes back whole through getMore');
});
