/**
 * createIndexes / listIndexes / dropIndexes, equality lookups served by an index (explain),
 * and TTL expiry.
 */
import t from 'tap';
import { connectClient, startTestServer, usingRealMongo } from './helpers.js';
import type { AnyDocument } from './helpers.js';

// A fast TTL sweep for the embedded store; a real mongod sweeps every 60 s.
const server = await startTestServer(t, 'indexes', { ttlSweepIntervalMs: 50 });
const client = await connectClient(t, server.uri);
const db = client.db(server.dbName);

async function codeOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

t.test('createIndexes, listIndexes and dropIndexes', async (t) => {
  const coll = db.collection<AnyDocument>('people');
  const created = await db.command({ createIndexes: 'people', indexes: [{ key: { email: 1 }, name: 'email_1', unique: true }] });
  t.equal(created.numIndexesBefore, 1);
  t.equal(created.numIndexesAfter, 2);
  t.equal(created.createdCollectionAutomatically, true);
  const again = await db.command({ createIndexes: 'people', indexes: [{ key: { email: 1 }, name: 'email_1', unique: true }] });
  t.equal(again.numIndexesAfter, 2, 'creating an identical index is a no-op');
  await coll.createIndex({ org: 1, createdAt: -1 });
  await coll.createIndex({ nick: 1 }, { sparse: true, name: 'nick_sparse' });

  const indexes = await coll.listIndexes().toArray();
  t.same(indexes.map((index) => index.name), ['_id_', 'email_1', 'org_1_createdAt_-1', 'nick_sparse']);
  t.same(indexes[0]?.key, { _id: 1 });
  t.same(indexes[2]?.key, { org: 1, createdAt: -1 });
  t.equal(indexes[3]?.sparse, true);

  t.equal(await codeOf(coll.createIndex({ email: 1 }, { name: 'email_1', unique: false })), 85, 'same name and key, other options');
  t.equal(await codeOf(coll.createIndex({ other: 1 }, { name: 'email_1' })), 86, 'same name, other key');

  await coll.dropIndex('nick_sparse');
  await db.command({ dropIndexes: 'people', index: { org: 1, createdAt: -1 } });
  t.same((await coll.listIndexes().toArray()).map((index) => index.name), ['_id_', 'email_1']);
  t.equal(await codeOf(coll.dropIndex('nope')), 27, 'IndexNotFound');
  await coll.dropIndexes();
  t.same((await coll.listIndexes().toArray()).map((index) => index.name), ['_id_']);
  t.equal(await codeOf(db.collection('never_created').listIndexes().toArray()), 26, 'NamespaceNotFound');
});

t.test('equality lookups on indexed fields use the index', async (t) => {
  const coll = db.collection<AnyDocument>('lookups');
  await coll.insertMany(Array.from({ length: 50 }, (_, i) => ({ email: `u${i}@x.io`, org: `o${i % 5}`, n: i })));
  await coll.createIndex({ email: 1 }, { unique: true });
  await coll.createIndex({ org: 1, n: 1 });
  const plan = async (filter: AnyDocument): Promise<string> => JSON.stringify((await coll.find(filter).explain('queryPlanner')).queryPlanner);
  const byEmail = await plan({ email: 'u7@x.io' });
  t.match(byEmail, /"stage":"IXSCAN"/);
  t.match(byEmail, /"indexName":"email_1"/);
  t.match(await plan({ org: 'o1', n: 6 }), /"indexName":"org_1_n_1"/);
  t.match(await plan({ n: 6 }), /COLLSCAN/, 'no index on n alone');
  t.same((await coll.findOne({ email: 'u7@x.io' }))?.n, 7);
  t.same((await coll.find({ email: { $in: ['u1@x.io', 'u2@x.io'] } }).sort({ n: 1 }).toArray()).map((doc) => doc.n), [1, 2]);
});

t.test('a partial index answers the filters that pin its partial filter, and only those', async (t) => {
  const coll = db.collection<AnyDocument>('partial_lookups');
  await coll.insertMany(Array.from({ length: 40 }, (_, i) => ({ n: i, done: i % 4 !== 0, ...(i === 1 ? { done: [true, false] } : {}) })));
  await coll.createIndex({ done: 1 }, { partialFilterExpression: { done: false }, name: 'open_only' });
  const plan = async (filter: AnyDocument): Promise<string> => JSON.stringify((await coll.find(filter).explain('queryPlanner')).queryPlanner);
  const ns = async (filter: AnyDocument): Promise<number[]> => (await coll.find(filter).sort({ n: 1 }).toArray()).map((doc) => doc.n as number);

  t.match(await plan({ done: false, n: { $lt: 30 } }), /"indexName":"open_only"/, 'the partial filter pinned: served from the index');
  t.same(await ns({ done: false, n: { $lt: 30 } }), [0, 1, 4, 8, 12, 16, 20, 24, 28], 'with the array holding false among them, as a scan finds');
  t.same(await ns({ done: { $in: [false] } }), [0, 1, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
  // Filters that do not pin `done: false` may match documents the index leaves out.
  t.notMatch(await plan({ done: true }), /open_only/, 'another value: a scan');
  t.equal((await ns({ done: true })).length, 30, 'every done document found (29 plus the array)');
  t.notMatch(await plan({ done: { $in: [false, true] } }), /open_only/);
  t.equal((await ns({ done: { $in: [false, true] } })).length, 40);
  t.notMatch(await plan({ done: { $ne: true } }), /open_only/);
  t.notMatch(await plan({ n: 4 }), /open_only/);
  await coll.updateOne({ n: 4 }, { $set: { done: true } });
  t.notOk((await ns({ done: false })).includes(4), 'a document leaving the partial filter leaves the index');
  await coll.updateOne({ n: 5 }, { $set: { done: false } });
  t.ok((await ns({ done: false })).includes(5), 'and one entering it is found');
});

t.test('an index key held by one, several, then one document again answers lookups right', async (t) => {
  const coll = db.collection<AnyDocument>('shared_keys');
  await coll.createIndex({ tag: 1 });
  const tagged = async (tag: string): Promise<number[]> => (await coll.find({ tag }).toArray()).map((doc) => doc.n as number).sort((a, b) => a - b);
  await coll.insertOne({ _id: 1, n: 1, tag: 'a' });
  t.same(await tagged('a'), [1]);
  await coll.insertMany([
    { _id: 2, n: 2, tag: 'a' },
    { _id: 3, n: 3, tag: 'a' },
  ]);
  t.same(await tagged('a'), [1, 2, 3], 'three documents share the key');
  await coll.updateOne({ _id: 1 }, { $set: { tag: 'b' } });
  await coll.deleteOne({ _id: 2 });
  t.same(await tagged('a'), [3], 'back to one');
  t.same(await tagged('b'), [1]);
  await coll.updateOne({ _id: 3 }, { $set: { n: 30 } });
  t.same(await tagged('a'), [30], 'an update that keeps the key keeps the entry');
  await coll.deleteOne({ _id: 3 });
  t.same(await tagged('a'), [], 'and to none');
  await coll.insertOne({ _id: 4, n: 4, tag: 'b' });
  await coll.deleteOne({ _id: 1 });
  t.same(await tagged('b'), [4]);
});

t.test('updates keep every index right: fields outside an index, nested paths, partial filters, unique keys', async (t) => {
  const coll = db.collection<AnyDocument>('update_indexes');
  await coll.createIndex({ state: 1, due: 1 });
  await coll.createIndex({ 'status.online': 1 });
  await coll.createIndex({ code: 1 }, { unique: true, partialFilterExpression: { active: true } });
  // Enough fields that an update of one or two is journaled as a patch of those fields.
  const base = { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 };
  await coll.insertMany([
    { _id: 1, state: 'scheduled', due: 10, status: { online: true, battery: 90 }, code: 'x', active: true, ...base },
    { _id: 2, state: 'scheduled', due: 10, status: { online: false, battery: 50 }, code: 'x', active: false, ...base },
  ]);
  const ids = async (filter: AnyDocument): Promise<number[]> => (await coll.find(filter).toArray()).map((doc) => doc._id as number).sort();

  await coll.updateOne({ _id: 1 }, { $set: { a: 100 } });
  t.same(await ids({ state: 'scheduled', due: 10 }), [1, 2], 'an update outside every index leaves the keys found');
  await coll.updateOne({ _id: 1 }, { $set: { state: 'due', b: 200 } });
  t.same(await ids({ state: 'scheduled', due: 10 }), [2], 'the old compound key is gone');
  t.same(await ids({ state: 'due', due: 10 }), [1], 'and the new one is there');
  await coll.updateOne({ _id: 1 }, { $set: { 'status.battery': 10 } });
  t.same(await ids({ 'status.online': true }), [1], 'a sibling of an indexed nested field changed: the key stays');
  await coll.updateOne({ _id: 1 }, { $set: { 'status.online': false } });
  t.same(await ids({ 'status.online': true }), [], 'the nested indexed field changed: the key moved');
  t.same(await ids({ 'status.online': false }), [1, 2]);

  t.equal(await codeOf(coll.updateOne({ _id: 2 }, { $set: { active: true } })), 11000, 'entering a partial unique index by its filter field collides');
  await coll.updateOne({ _id: 1 }, { $set: { active: false } });
  await coll.updateOne({ _id: 2 }, { $set: { active: true } });
  t.same(await ids({ code: 'x', active: true }), [2], 'leaving the partial index by its filter field frees the key for another');
  t.equal(await codeOf(coll.updateOne({ _id: 1 }, { $set: { active: true } })), 11000);
});

t.test('TTL indexes expire documents', async (t) => {
  const coll = db.collection<AnyDocument>('sessions');
  await coll.createIndex({ seenAt: 1 }, { expireAfterSeconds: 1 });
  const past = new Date(Date.now() - 60_000);
  await coll.insertMany([
    { _id: 'old', seenAt: past },
    { _id: 'old-array', seenAt: [new Date(Date.now() + 3_600_000), past] },
    { _id: 'fresh', seenAt: new Date(Date.now() + 3_600_000) },
    { _id: 'not-a-date', seenAt: 'yesterday' },
    { _id: 'no-field' },
  ]);
  // There is no event for "the TTL monitor ran": poll until the expired documents are gone
  // (up to ~2 sweeps of a real mongod).
  const deadline = Date.now() + (usingRealMongo ? 130_000 : 10_000);
  while ((await coll.countDocuments({ _id: { $in: ['old', 'old-array'] } })) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, usingRealMongo ? 1000 : 25));
  }
  const left = (await coll.find({}).sort({ _id: 1 }).toArray()).map((doc) => doc._id);
  t.same(left, ['fresh', 'no-field', 'not-a-date']);
});

t.test('a TTL index with a partial filter expires only the documents it holds', async (t) => {
  const coll = db.collection<AnyDocument>('visits');
  await coll.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0, partialFilterExpression: { temporary: true } });
  const past = new Date(Date.now() - 60_000);
  await coll.insertMany([
    { _id: 'temporary', temporary: true, expiresAt: past },
    { _id: 'kept', temporary: false, expiresAt: past },
  ]);
  const deadline = Date.now() + (usingRealMongo ? 130_000 : 10_000);
  while ((await coll.countDocuments({ _id: 'temporary' })) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, usingRealMongo ? 1000 : 25));
  }
  // One more sweep, so that a wrongly expired document would be gone too.
  await new Promise((resolve) => setTimeout(resolve, usingRealMongo ? 0 : 150));
  const left = (await coll.find({}).sort({ _id: 1 }).toArray()).map((doc) => doc._id);
  t.same(left, ['kept'], 'the document outside the partial filter stays');
});

t.test('createIndexes builds all the requested indexes or none', async (t) => {
  const coll = db.collection<AnyDocument>('all_or_none');
  await coll.insertMany([
    { _id: 1, a: 1, b: 'same' },
    { _id: 2, a: 2, b: 'same' },
  ]);
  const code = await codeOf(
    db.command({ createIndexes: 'all_or_none', indexes: [{ key: { a: 1 }, name: 'a_1' }, { key: { b: 1 }, name: 'b_1', unique: true }] }),
  );
  t.equal(code, 11000, 'the unique index cannot be built over duplicates');
  t.same((await coll.listIndexes().toArray()).map((index) => index.name), ['_id_'], 'the other index was not built either');
  const retried = await db.command({ createIndexes: 'all_or_none', indexes: [{ key: { a: 1 }, name: 'a_1' }] });
  t.equal(retried.numIndexesAfter, 2, 'and can be created afterwards');
});
