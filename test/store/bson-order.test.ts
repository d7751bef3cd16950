/**
 * BSON comparison as mongod does it: type order for sort, numeric equality across
 * int32/int64/double/Decimal128, type bracketing for range operators, array sort keys.
 */
import t from 'tap';
import { Binary, Decimal128, Long, MaxKey, MinKey, ObjectId } from 'mongodb';
import type { Document } from 'mongodb';
import { testDb } from './helpers.js';
import type { AnyDocument } from './helpers.js';

const { db } = await testDb(t, 'bson_order');

t.test('sort follows the BSON type order', async (t) => {
  const coll = db.collection<AnyDocument>('mixed');
  const values: Array<[number, unknown]> = [
    [1, new MaxKey()],
    [2, /re/],
    [3, new Date(0)],
    [4, true],
    [5, new ObjectId('000000000000000000000000')],
    [6, new Binary(Buffer.from([1]))],
    [7, { x: 1 }],
    [8, 'text'],
    [9, Decimal128.fromString('3')],
    [10, 2.5],
    [11, Long.fromNumber(2)],
    [12, 1],
    [13, null],
    [15, new MinKey()],
  ];
  await coll.insertMany([...values.map(([id, v]) => ({ _id: id, v })), { _id: 14 }]);
  const ascending = await coll.find({}, { projection: { _id: 1 } }).sort({ v: 1, _id: 1 }).toArray();
  t.same(ascending.map((doc) => doc._id), [15, 13, 14, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  const descending = await coll.find({}, { projection: { _id: 1 } }).sort({ v: -1, _id: 1 }).toArray();
  t.same(descending.map((doc) => doc._id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
});

t.test('numbers compare by value across int32, int64, double and Decimal128', async (t) => {
  const coll = db.collection<AnyDocument>('numbers');
  await coll.insertMany([
    { _id: 'int', v: 2 },
    { _id: 'long', v: Long.fromNumber(2) },
    { _id: 'double', v: 2.0000001 },
    { _id: 'decimal', v: Decimal128.fromString('2.00') },
    { _id: 'big', v: Long.fromString('9007199254740993') },
  ]);
  const ids = async (filter: Document): Promise<string[]> =>
    (await coll.find(filter).sort({ _id: 1 }).toArray()).map((doc) => String(doc._id));
  t.same(await ids({ v: 2 }), ['decimal', 'int', 'long']);
  t.same(await ids({ v: Long.fromNumber(2) }), ['decimal', 'int', 'long']);
  t.same(await ids({ v: Decimal128.fromString('2') }), ['decimal', 'int', 'long']);
  t.same(await ids({ v: { $gt: 2 } }), ['big', 'double']);
  t.same(await ids({ v: { $gt: Long.fromString('9007199254740992') } }), ['big'], 'int64 beyond 2^53 compares exactly');
  // mongod compares exactly: a decimal never equals the inexact double nearest to it.
  t.same(await ids({ v: { $in: [Decimal128.fromString('2.0000001'), 7] } }), []);
  t.same(await ids({ v: { $in: [2.0000001, 7] } }), ['double']);
  const sorted = await coll.find({}).sort({ v: -1, _id: 1 }).toArray();
  t.same(sorted.map((doc) => doc._id), ['big', 'double', 'decimal', 'int', 'long']);
});

t.test('range operators only compare within a type bracket', async (t) => {
  const coll = db.collection<AnyDocument>('bracket');
  await coll.insertMany([{ _id: 1, v: 5 }, { _id: 2, v: 'b' }, { _id: 3, v: null }, { _id: 4 }, { _id: 5, v: [1, 'z'] }]);
  const ids = async (filter: Document): Promise<number[]> =>
    (await coll.find(filter).sort({ _id: 1 }).toArray()).map((doc) => Number(doc._id));
  t.same(await ids({ v: { $gt: 1 } }), [1]);
  t.same(await ids({ v: { $lt: 'c' } }), [2]);
  t.same(await ids({ v: { $gte: 'y' } }), [5], 'array elements are compared one by one');
  t.same(await ids({ v: null }), [3, 4], 'null matches null and missing');
  t.same(await ids({ v: { $ne: null } }), [1, 2, 5]);
  t.same(await ids({ v: { $exists: false } }), [4]);
  t.same(await ids({ v: { $type: 'string' } }), [2, 5]);
  t.same(await ids({ v: { $type: 'number' } }), [1, 5]);
});

t.test('arrays sort by their smallest element ascending and largest descending', async (t) => {
  const coll = db.collection<AnyDocument>('arrays');
  await coll.insertMany([{ _id: 1, a: [3, 1] }, { _id: 2, a: [2] }, { _id: 3, a: 0 }, { _id: 4, a: [] }, { _id: 5, a: null }]);
  const ascending = await coll.find({}).sort({ a: 1 }).toArray();
  t.same(ascending.map((doc) => doc._id), [4, 5, 3, 1, 2], 'an empty array sorts before null');
  const descending = await coll.find({}).sort({ a: -1 }).toArray();
  t.same(descending.map((doc) => doc._id), [1, 2, 3, 5, 4]);
});

t.test('embedded documents and arrays match by exact value and field order', async (t) => {
  const coll = db.collection<AnyDocument>('embedded');
  await coll.insertMany([{ _id: 1, d: { a: 1, b: 2 } }, { _id: 2, d: { b: 2, a: 1 } }, { _id: 3, tags: ['x', 'y'] }]);
  t.same((await coll.find({ d: { a: 1, b: 2 } }).toArray()).map((doc) => doc._id), [1]);
  t.same((await coll.find({ 'd.a': 1 }).sort({ _id: 1 }).toArray()).map((doc) => doc._id), [1, 2]);
  t.same((await coll.find({ tags: ['x', 'y'] }).toArray()).map((doc) => doc._id), [3]);
  t.same((await coll.find({ tags: 'y' }).toArray()).map((doc) => doc._id), [3]);
  t.same((await coll.find({ tags: { $all: ['y', 'x'] } }).toArray()).map((doc) => doc._id), [3]);
  t.same((await coll.find({ tags: { $size: 2 } }).toArray()).map((doc) => doc._id), [3]);
});

t.test('int64 values round-trip as int64', async (t) => {
  const coll = db.collection<AnyDocument>('longs');
  await coll.insertOne({ _id: 1, big: Long.fromString('9223372036854775807') });
  const doc = await coll.findOne({ _id: 1 }, { promoteLongs: false });
  t.ok(doc?.big instanceof Long);
  t.equal(String(doc?.big), '9223372036854775807');
});

t.test('$in and $nin with long lists match as with short ones', async (t) => {
  const coll = db.collection<AnyDocument>('long_in');
  await coll.insertMany([
    { _id: 'int', v: 1 },
    { _id: 'long', v: Long.fromNumber(2) },
    { _id: 'decimal', v: Decimal128.fromString('3.0') },
    { _id: 'double', v: 4.5 },
    { _id: 'string', v: 'alpha' },
    { _id: 'other-string', v: 'omega' },
    { _id: 'null', v: null },
    { _id: 'missing' },
    { _id: 'array', v: [10, 11] },
    { _id: 'nested-array', v: [[20, 21]] },
    { _id: 'document', v: { a: 1, b: 2 } },
    { _id: 'reordered-document', v: { b: 2, a: 1 } },
    { _id: 'oid', v: new ObjectId('0123456789abcdef01234567') },
    { _id: 'exact-decimal', v: Decimal128.fromString('0.000009059906005859375') }, // exactly 19 × 2⁻²¹
  ]);
  // Fillers make the lists long (the embedded store hashes lists of more than 8 values).
  const fillers = Array.from({ length: 40 }, (_, i) => `filler-${i}`);
  const ids = async (filter: Document): Promise<string[]> => (await coll.find(filter, { projection: { _id: 1 } }).toArray()).map((doc) => String(doc._id)).sort();
  const both = async (values: unknown[]): Promise<[string[], string[]]> => [await ids({ v: { $in: values } }), await ids({ v: { $in: [...fillers, ...values] } })];

  for (const values of [
    [Long.fromNumber(1), 2, 3, Decimal128.fromString('4.5')],
    [null],
    [11],
    [[10, 11]],
    [[20, 21]],
    [{ a: 1, b: 2 }],
    [/^al/, 'omega'],
    [new ObjectId('0123456789abcdef01234567')],
    [19 * 2 ** -21],
  ]) {
    const [short, long] = await both(values);
    t.same(long, short, `same documents for ${JSON.stringify(values)}: ${short.join(', ')}`);
  }
  t.same(await ids({ v: { $in: [...fillers, Long.fromNumber(1), 2, 3, Decimal128.fromString('4.5')] } }), ['decimal', 'double', 'int', 'long'], 'numbers by value across types');
  t.same(await ids({ v: { $in: [...fillers, null] } }), ['missing', 'null'], 'null matches null and missing');
  t.same(await ids({ v: { $in: [...fillers, 19 * 2 ** -21] } }), ['exact-decimal'], 'a Decimal128 equal to a double');
  t.same(await ids({ v: { $in: [...fillers, 11] } }), ['array'], 'an array element');
  t.same(await ids({ v: { $in: [...fillers, { a: 1, b: 2 }] } }), ['document'], 'embedded documents by field order');
  t.same(await ids({ v: { $in: [...fillers, /^al/] } }), ['string'], 'a regular expression among the values');
  t.same(await ids({ v: { $nin: [...fillers, null, 'alpha', 'omega', 1, 2, 3, 4.5] } }), ['array', 'document', 'exact-decimal', 'nested-array', 'oid', 'reordered-document'], '$nin is the complement');
});
