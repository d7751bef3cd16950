/**
 * Update operators, positional paths, upserts and replacements, with mongod's error codes
 * where it refuses (14 TypeMismatch, 2 BadValue, 40 conflicting paths, 66 immutable _id,
 * 28 PathNotViable, 9 unknown modifier).
 */
import t from 'tap';
import { Decimal128, Long, ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { testDb } from './helpers.js';
import type { AnyDocument } from './helpers.js';

const { db } = await testDb(t, 'update_ops');
const coll = db.collection<AnyDocument>('docs');

async function reset(doc: Document): Promise<void> {
  await coll.deleteMany({});
  await coll.insertOne({ _id: 1, ...doc } as Document);
}

async function current(): Promise<Document | null> {
  return coll.findOne({ _id: 1 });
}

async function errorCode(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

t.test('$set, $unset, $inc, $mul, $min, $max, $rename, $currentDate', async (t) => {
  await reset({ a: 1, b: { c: 2 }, n: 5, m: 3, low: 10, high: 10, old: 'x', gone: true });
  await coll.updateOne(
    { _id: 1 },
    {
      $set: { 'b.d': 3, e: [1] },
      $unset: { gone: '' },
      $inc: { n: 2, fresh: 4 },
      $mul: { m: 2, zero: 5 },
      $min: { low: 3 },
      $max: { high: 20 },
      $rename: { old: 'renamed' },
      $currentDate: { touched: true },
    },
  );
  const doc = await current();
  t.same(doc?.b, { c: 2, d: 3 });
  t.same(doc?.e, [1]);
  t.notOk('gone' in (doc ?? {}));
  t.equal(doc?.n, 7);
  t.equal(doc?.fresh, 4, '$inc on a missing field sets the amount');
  t.equal(doc?.m, 6);
  t.equal(doc?.zero, 0, '$mul on a missing field sets 0');
  t.equal(doc?.low, 3);
  t.equal(doc?.high, 20);
  t.equal(doc?.renamed, 'x');
  t.notOk('old' in (doc ?? {}));
  t.ok(doc?.touched instanceof Date);
});

t.test('new fields are added in lexicographic order (mongod >= 5.0)', async (t) => {
  await reset({});
  await coll.updateOne({ _id: 1 }, { $set: { zeta: 1, alpha: 1, mid: 1 } });
  t.same(Object.keys((await current()) ?? {}), ['_id', 'alpha', 'mid', 'zeta']);
});

t.test('$inc keeps mongod numeric result types', async (t) => {
  await reset({ i: 1, d: 0.2 });
  await coll.updateOne({ _id: 1 }, { $inc: { i: Long.fromNumber(1), d: Decimal128.fromString('0.1') } });
  t.equal(await coll.countDocuments({ i: { $type: 'long' } }), 1, 'int + long is a long');
  t.equal(await coll.countDocuments({ i: 2 }), 1);
  t.equal(await coll.countDocuments({ d: { $type: 'decimal' } }), 1, 'double + decimal is a decimal');
  t.equal(await coll.countDocuments({ d: Decimal128.fromString('0.3') }), 1);
});

t.test('$push with $each, $position, $sort and $slice; $addToSet keeps existing duplicates', async (t) => {
  await reset({ list: [1, 2, 2, 3], scores: [5, 1] });
  await coll.updateOne({ _id: 1 }, { $addToSet: { list: { $each: [5, 2, 5] } } });
  t.same((await current())?.list, [1, 2, 2, 3, 5], 'mingo would drop the 5 here; mongod appends it once');
  await coll.updateOne({ _id: 1 }, { $addToSet: { list: 4 } });
  t.same((await current())?.list, [1, 2, 2, 3, 5, 4]);
  await coll.updateOne({ _id: 1 }, { $push: { scores: { $each: [9, 3], $sort: -1, $slice: 3 } } } as Document);
  t.same((await current())?.scores, [9, 5, 3]);
  await coll.updateOne({ _id: 1 }, { $push: { scores: { $each: [0], $position: 0 } } } as Document);
  t.same((await current())?.scores, [0, 9, 5, 3]);
  await coll.updateOne({ _id: 1 }, { $push: { created: 'x' } } as Document);
  t.same((await current())?.created, ['x'], '$push on a missing field creates the array');
});

t.test('$pull, $pullAll and $pop', async (t) => {
  await reset({ nums: [1, 5, 3, 7, 3], items: [{ k: 'a', v: 1 }, { k: 'b', v: 2 }], q: [1, 2, 3] });
  await coll.updateOne({ _id: 1 }, { $pull: { nums: { $gte: 5 }, items: { k: 'a' } } } as Document);
  let doc = await current();
  t.same(doc?.nums, [1, 3, 3]);
  t.same(doc?.items, [{ k: 'b', v: 2 }]);
  await coll.updateOne({ _id: 1 }, { $pullAll: { nums: [3] }, $pop: { q: -1 } } as Document);
  doc = await current();
  t.same(doc?.nums, [1]);
  t.same(doc?.q, [2, 3]);
  await coll.updateOne({ _id: 1 }, { $pop: { q: 1 } });
  t.same((await current())?.q, [2]);
});

t.test('positional $, $[] and $[identifier] with arrayFilters', async (t) => {
  await reset({ items: [{ sku: 'a', q: 1 }, { sku: 'b', q: 2 }, { sku: 'c', q: 3 }], grades: [80, 95, 90] });
  await coll.updateOne({ _id: 1, 'items.sku': 'b' }, { $set: { 'items.$.q': 20 } });
  t.same((await current())?.items, [{ sku: 'a', q: 1 }, { sku: 'b', q: 20 }, { sku: 'c', q: 3 }]);
  await coll.updateOne({ _id: 1 }, { $inc: { 'items.$[].q': 1 } });
  t.same((await current())?.items.map((item: Document) => item.q), [2, 21, 4]);
  await coll.updateOne({ _id: 1 }, { $set: { 'items.$[big].flag': true, 'grades.$[g]': 100 } }, {
    arrayFilters: [{ 'big.q': { $gt: 3 } }, { g: { $gte: 90 } }],
  });
  const doc = await current();
  t.same(doc?.items, [{ sku: 'a', q: 2 }, { sku: 'b', q: 21, flag: true }, { sku: 'c', q: 4, flag: true }]);
  t.same(doc?.grades, [80, 100, 100]);
  await coll.updateOne({ _id: 1 }, { $set: { 'grades.1': 50, 'grades.5': 1 } });
  t.same((await current())?.grades, [80, 50, 100, null, null, 1], 'setting past the end pads with null');
});

t.test('upserts seed the document from the query and apply $setOnInsert', async (t) => {
  await coll.deleteMany({});
  const result = await coll.updateOne(
    { name: 'x', 'meta.kind': 'k', age: { $gt: 3 }, $and: [{ tier: 2 }] },
    { $set: { v: 1 }, $setOnInsert: { created: 'now' } },
    { upsert: true },
  );
  t.equal(result.upsertedCount, 1);
  const doc = await coll.findOne({ _id: result.upsertedId as never });
  t.same({ ...doc, _id: undefined }, { _id: undefined, name: 'x', meta: { kind: 'k' }, tier: 2, v: 1, created: 'now' });
  const again = await coll.updateOne({ name: 'x' }, { $set: { v: 2 }, $setOnInsert: { created: 'later' } }, { upsert: true });
  t.equal(again.matchedCount, 1);
  t.equal(again.upsertedCount, 0);
  t.equal((await coll.findOne({ name: 'x' }))?.created, 'now');
  const withId = await coll.updateOne({ _id: 'given' as never }, { $set: { v: 3 } }, { upsert: true });
  t.equal(withId.upsertedId, 'given');
});

t.test('replacement documents keep _id; pipeline updates compute fields', async (t) => {
  await reset({ a: 1, b: 2 });
  await coll.replaceOne({ _id: 1 }, { c: 3 });
  t.same(await current(), { _id: 1, c: 3 });
  t.equal(await errorCode(coll.replaceOne({ _id: 1 }, { _id: 2, c: 4 })), 66);
  await coll.updateOne({ _id: 1 }, [{ $set: { d: { $add: ['$c', 10] } } }]);
  t.equal((await current())?.d, 13);
  const upserted = await coll.replaceOne({ _id: 7 }, { r: 1 }, { upsert: true });
  t.equal(upserted.upsertedId, 7);
});

t.test('mongod refuses with its error codes', async (t) => {
  await reset({ s: 'text', n: 1, scalar: 5, arr: [1] });
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $inc: { s: 1 } })), 14, '$inc on a string');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $inc: { n: 'x' as never } })), 14, '$inc by a string');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $push: { s: 1 } } as Document)), 2, '$push on a non-array');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $addToSet: { s: 1 } })), 2, '$addToSet on a non-array');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { n: 1 }, $inc: { n: 1 } })), 40, 'same path twice');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { a: 1, 'a.b': 1 } })), 40, 'prefix paths');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { _id: 2 } })), 66, 'changing _id');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { 'scalar.x': 1 } })), 28, '$set through a scalar');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $foo: { n: 1 } } as never)), 9, 'unknown modifier');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $pop: { s: 1 } })), 14, '$pop on a non-array');
  t.same(await current(), { _id: 1, s: 'text', n: 1, scalar: 5, arr: [1] }, 'failed updates change nothing');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { _id: 1, n: 2 } })), undefined, 'setting _id to itself is fine');
});

t.test('int64 $inc and $mul refuse to overflow (BadValue) instead of wrapping around', async (t) => {
  await reset({ big: Long.MAX_VALUE, small: Long.MIN_VALUE });
  const overflow = await coll.updateOne({ _id: 1 }, { $inc: { big: 1 } }).then(
    () => undefined,
    (error: unknown) => error as { code?: number; message?: string },
  );
  t.equal(overflow?.code, 2, '$inc past the largest long');
  t.match(overflow?.message, /Failed to apply \$inc operations to current value \(\(NumberLong\)9223372036854775807\)/);
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $inc: { small: -1 } })), 2, '$inc past the smallest long');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $mul: { big: 2 } })), 2, '$mul past the largest long');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $inc: { big: Long.fromNumber(-1) } })), undefined, 'within range is fine');
  const doc = await current();
  t.equal(String(doc?.big), '9223372036854775806');
  t.equal(String(doc?.small), '-9223372036854775808', 'the refused updates changed nothing');
});

t.test('int32 $inc and $mul past the int32 range give a long, as mongod', async (t) => {
  await reset({ up: 2147483647, down: -2147483648, times: 65536, fits: 2147483646 });
  await coll.updateOne({ _id: 1 }, { $inc: { up: 1, down: -1, fits: 1 }, $mul: { times: 65536 } });
  const doc = await coll.findOne({ _id: 1 }, { promoteLongs: false });
  t.ok(doc?.up instanceof Long && doc.up.toString() === '2147483648', '$inc past the largest int32');
  t.ok(doc?.down instanceof Long && doc.down.toString() === '-2147483649', '$inc past the smallest int32');
  t.ok(doc?.times instanceof Long && doc.times.toString() === '4294967296', '$mul past the largest int32');
  t.equal(doc?.fits, 2147483647, 'within range stays a number');
  t.equal(await coll.countDocuments({ _id: 1, up: { $type: 'long' }, down: { $type: 'long' }, times: { $type: 'long' }, fits: { $type: 'int' } }), 1, 'stored as longs');
});

t.test('operands and array filters are checked before any document is touched', async (t) => {
  await reset({ n: 1, arr: [1, 2] });
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $rename: { n: 'n' } })), 2, '$rename onto itself');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $currentDate: { d: 'x' as never } })), 2, '$currentDate with a string');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $currentDate: { d: { $type: 'year' } as never } })), 2, '$currentDate with an unknown $type');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { x: 1 } }, { arrayFilters: [{ i: 1 }] })), 9, 'an array filter no path uses');
  t.equal(await errorCode(coll.updateOne({ _id: 'none' }, { $rename: { n: 'n' } })), 2, 'even when no document matches');
  t.equal(await errorCode(coll.updateOne({ _id: 1 }, { $set: { 'arr.$[i]': 0 } }, { arrayFilters: [{ i: 1 }] })), undefined, 'a used filter is fine');
  t.same(await current(), { _id: 1, n: 1, arr: [0, 2] });
});

t.test('modifiedCount ignores no-op updates', async (t) => {
  await reset({ a: 1 });
  const result = await coll.updateOne({ _id: 1 }, { $set: { a: 1 } });
  t.equal(result.matchedCount, 1);
  t.equal(result.modifiedCount, 0);

  const id = new ObjectId();
  const at = new Date('2026-01-02T03:04:05.678Z');
  await reset({ a: 1, status: { online: true, at, by: id, tags: ['x', 'y'], big: Long.fromString('9007199254740993') } });
  const same = { 'status.online': true, 'status.at': new Date(at.getTime()), 'status.by': new ObjectId(id.toHexString()), 'status.tags': ['x', 'y'], 'status.big': Long.fromString('9007199254740993') };
  t.equal((await coll.updateOne({ _id: 1 }, { $set: same })).modifiedCount, 0, 'equal nested values, dates, ids, arrays and longs');
  t.equal((await coll.updateOne({ _id: 1 }, { $set: { 'status.tags': ['y', 'x'] } })).modifiedCount, 1, 'a reordered array is a change');
  t.equal((await coll.updateOne({ _id: 1 }, { $set: { 'status.big': Long.fromString('9007199254740992') } })).modifiedCount, 1, 'a different long is a change');
  t.equal((await coll.updateOne({ _id: 1 }, { $set: { 'status.at': new Date(at.getTime() + 1) } })).modifiedCount, 1, 'a later date is a change');
});
