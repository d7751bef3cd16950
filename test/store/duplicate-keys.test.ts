/**
 * Unique indexes on every write path and the exact E11000 shapes drivers and mongoose rely on.
 */
import t from 'tap';
import { Long, MongoBulkWriteError, MongoServerError } from 'mongodb';
import type { Document } from 'mongodb';
import { connectClient, testDb } from './helpers.js';
import type { AnyDocument } from './helpers.js';

const { db, server } = await testDb(t, 'dup_keys');
// A second client that records raw replies: the driver keeps only code/index/errmsg of bulk
// write errors, but the wire reply carries keyPattern and keyValue too.
const monitored = await connectClient(t, server.uri, { monitorCommands: true });
const replies: Document[] = [];
monitored.on('commandSucceeded', (event) => replies.push(event.reply as Document));

async function failureOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error('expected the write to fail');
}

t.test('duplicate _id on insert', async (t) => {
  const coll = db.collection<AnyDocument>('ids');
  await coll.insertOne({ _id: 1 as never });
  const error = await failureOf(coll.insertOne({ _id: 1 as never }));
  t.ok(error instanceof MongoServerError);
  t.equal(error.code, 11000);
  t.same(error.keyPattern, { _id: 1 });
  t.same(error.keyValue, { _id: 1 });
  t.match(String(error.errmsg), /^E11000 duplicate key error collection: \w+\.ids index: _id_ dup key: \{ _id: 1 \}$/);
});

t.test('insertMany: ordered stops at the first duplicate, unordered carries on', async (t) => {
  const coll = db.collection<AnyDocument>('users');
  await coll.createIndex({ email: 1 }, { unique: true });
  await coll.insertOne({ email: 'a@x.io' });
  const ordered = await failureOf(coll.insertMany([{ email: 'b@x.io' }, { email: 'a@x.io' }, { email: 'c@x.io' }]));
  t.ok(ordered instanceof MongoBulkWriteError);
  t.equal((ordered as unknown as MongoBulkWriteError).result.insertedCount, 1);
  const orderedErrors = (ordered as unknown as MongoBulkWriteError).writeErrors as unknown as Array<{ index: number; code: number }>;
  t.same(orderedErrors.map((e) => [e.index, e.code]), [[1, 11000]]);
  t.notOk(await coll.findOne({ email: 'c@x.io' }), 'ordered insert stopped before c');

  const monitoredColl = monitored.db(server.dbName).collection<AnyDocument>('users');
  const unordered = await failureOf(
    monitoredColl.insertMany([{ email: 'd@x.io' }, { email: 'a@x.io' }, { email: 'e@x.io' }, { email: 'd@x.io' }], { ordered: false }),
  );
  const bulk = unordered as unknown as MongoBulkWriteError;
  t.equal(bulk.result.insertedCount, 2);
  const errors = bulk.writeErrors as unknown as Array<{ index: number; code: number }>;
  t.same(errors.map((e) => e.index), [1, 3]);
  const wireErrors = replies.at(-1)?.writeErrors as Document[] | undefined;
  t.same(wireErrors?.map((e) => e.index), [1, 3]);
  t.same(wireErrors?.[0]?.keyValue, { email: 'a@x.io' });
  t.same(wireErrors?.[0]?.keyPattern, { email: 1 });
  t.equal(wireErrors?.[0]?.code, 11000);
  t.match(String(wireErrors?.[0]?.errmsg), /index: email_1 dup key: \{ email: "a@x.io" \}/);
  t.equal(await coll.countDocuments({ email: 'e@x.io' }), 1);
});

t.test('updates, upserts, replacements and findOneAndUpdate enforce unique indexes', async (t) => {
  const coll = db.collection<AnyDocument>('users');
  const update = await failureOf(coll.updateOne({ email: 'b@x.io' }, { $set: { email: 'a@x.io' } }));
  t.equal(update.code, 11000);
  t.same(update.keyValue, { email: 'a@x.io' });
  t.ok(await coll.findOne({ email: 'b@x.io' }), 'the failed update left the document unchanged');

  const upsert = await failureOf(coll.updateOne({ email: 'zzz@x.io', other: 1 }, { $set: { email: 'a@x.io' } }, { upsert: true }));
  t.equal(upsert.code, 11000);
  const replace = await failureOf(coll.replaceOne({ email: 'b@x.io' }, { email: 'a@x.io' }));
  t.equal(replace.code, 11000);

  const fam = await failureOf(coll.findOneAndUpdate({ email: 'b@x.io' }, { $set: { email: 'a@x.io' } }));
  t.ok(fam instanceof MongoServerError);
  t.equal(fam.code, 11000);
  t.same(fam.keyPattern, { email: 1 });
  t.same(fam.keyValue, { email: 'a@x.io' });

  const many = await failureOf(coll.updateMany({ email: { $in: ['b@x.io', 'd@x.io'] } }, { $set: { email: 'same@x.io' } }));
  t.equal(many.code, 11000, 'the second document of a multi-update collides with the first');
});

t.test('numerically equal keys of different types collide', async (t) => {
  const coll = db.collection<AnyDocument>('numeric_keys');
  await coll.createIndex({ k: 1 }, { unique: true });
  await coll.insertOne({ k: 1 });
  t.equal((await failureOf(coll.insertOne({ k: Long.fromNumber(1) }))).code, 11000);
  t.equal((await failureOf(coll.insertOne({ k: 1.0 }))).code, 11000);
});

t.test('compound, sparse, partial and multikey unique indexes', async (t) => {
  const compound = db.collection<AnyDocument>('compound');
  await compound.createIndex({ org: 1, email: 1 }, { unique: true });
  await compound.insertMany([{ org: 'a', email: 'x' }, { org: 'b', email: 'x' }]);
  const error = await failureOf(compound.insertOne({ org: 'a', email: 'x' }));
  t.same(error.keyPattern, { org: 1, email: 1 });
  t.same(error.keyValue, { org: 'a', email: 'x' });
  t.match(String(error.errmsg), /index: org_1_email_1 dup key: \{ org: "a", email: "x" \}/);

  const plain = db.collection<AnyDocument>('plain_unique');
  await plain.createIndex({ code: 1 }, { unique: true });
  await plain.insertOne({ name: 'no code' });
  const missing = await failureOf(plain.insertOne({ name: 'no code either' }));
  t.same(missing.keyValue, { code: null }, 'a missing field is indexed as null');

  const sparse = db.collection<AnyDocument>('sparse_unique');
  await sparse.createIndex({ code: 1 }, { unique: true, sparse: true });
  await sparse.insertMany([{ name: 'a' }, { name: 'b' }, { code: null }]);
  t.equal((await failureOf(sparse.insertOne({ code: null }))).code, 11000, 'sparse skips missing fields, not nulls');

  const partial = db.collection<AnyDocument>('partial_unique');
  await partial.createIndex({ email: 1 }, { unique: true, partialFilterExpression: { active: true } });
  await partial.insertMany([{ email: 'p', active: false }, { email: 'p', active: false }, { email: 'p', active: true }]);
  t.equal((await failureOf(partial.insertOne({ email: 'p', active: true }))).code, 11000);
  t.equal((await failureOf(partial.updateOne({ active: false }, { $set: { active: true } }))).code, 11000, 'entering the filter is checked');

  const multikey = db.collection<AnyDocument>('multikey_unique');
  await multikey.createIndex({ tags: 1 }, { unique: true });
  await multikey.insertOne({ tags: ['a', 'a', 'b'] });
  t.same((await failureOf(multikey.insertOne({ tags: ['c', 'b'] }))).keyValue, { tags: 'b' });
});

t.test('building a unique index over duplicates fails and leaves no index', async (t) => {
  const coll = db.collection<AnyDocument>('late_unique');
  await coll.insertMany([{ v: 1 }, { v: 1 }]);
  const error = await failureOf(coll.createIndex({ v: 1 }, { unique: true }));
  t.equal(error.code, 11000);
  const names = (await coll.listIndexes().toArray()).map((index) => index.name);
  t.same(names, ['_id_']);
});

t.test('bulkWrite reports the failing operation index', async (t) => {
  const coll = db.collection<AnyDocument>('bulk');
  await coll.createIndex({ u: 1 }, { unique: true });
  const error = await failureOf(
    coll.bulkWrite(
      [
        { insertOne: { document: { u: 1 } } },
        { insertOne: { document: { u: 1 } } },
        { updateOne: { filter: { u: 1 }, update: { $set: { seen: true } } } },
      ],
      { ordered: false },
    ),
  );
  t.ok(error instanceof MongoBulkWriteError);
  const bulk = error as unknown as MongoBulkWriteError;
  t.same((bulk.writeErrors as unknown as Array<{ index: number }>).map((e) => e.index), [1]);
  t.equal(bulk.result.insertedCount, 1);
  t.equal(bulk.result.modifiedCount, 1);
});
