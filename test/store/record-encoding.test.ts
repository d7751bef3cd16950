/**
 * The store's hand-written BSON (journal records, `{n, ok}` replies, inserted documents kept as
 * received) must be byte for byte what the bson library writes, and an insert whose bytes are
 * journaled as received must replay to the same document.
 */
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Binary, Decimal128, Long, ObjectId, deserialize, serialize } from 'bson';
import type { Document } from 'bson';
import type { JournalOp } from '../../src/store/embedded/engine/journal-ops.js';
import { numbersOnlySize, writeNumbersOnly } from '../../src/store/embedded/bson/numbers-only.js';
import { RecordBatch } from '../../src/store/embedded/persistence/record-batch.js';
import { decodeRecords, encodeRecord } from '../../src/store/embedded/persistence/records.js';
import { arrayElementBytes, withIdFirst } from '../../src/store/embedded/bson/elements.js';
import { DESERIALIZE_OPTIONS, encodeOpMsg, parseMessage } from '../../src/store/embedded/wire/codec.js';
import { embeddedOnly, storeOnDisk, type AnyDocument } from './helpers.js';

const richDocument = (): Document => ({
  _id: new ObjectId(),
  text: 'héllo wörld',
  double: 1.5,
  int: 3,
  long: Long.fromString('123456789012'),
  date: new Date(Date.UTC(2026, 11, 5, 8, 30)),
  decimal: Decimal128.fromString('1.10'),
  binary: new Binary(Buffer.from('xy')),
  nested: { list: [1, 'x', null, { deep: true }] },
  regex: /ab+c/i,
});

const replies: Document[] = [
  { n: 1, ok: 1 },
  { n: 2.5, ok: 1 },
  { n: 2 ** 31, ok: 1 },
  { n: -(2 ** 31), ok: 1 },
  { n: -0, ok: 1 },
  { n: Number.NaN, ok: Number.POSITIVE_INFINITY },
  { n: 1, nModified: 0, ok: 1 },
  { ok: 1, writeErrors: [{ index: 0, code: 11000, errmsg: 'E11000 duplicate key' }] },
  {},
];

/** Without `encoded`, which the journal never writes as a field. */
function asSerialized(op: JournalOp): JournalOp {
  if (op.op !== 'insert') return op;
  return { op: 'insert', ns: op.ns, doc: op.doc };
}

t.test('journal records are byte-identical to bson.serialize and decode to the same ops', async (t) => {
  const doc = richDocument();
  const ops: JournalOp[] = [
    { op: 'insert', ns: 'app.côllection', doc, encoded: serialize(doc) },
    { op: 'insert', ns: 'app.plain', doc: { _id: 7, name: 'no encoded bytes' } },
    { op: 'replace', ns: 'app.plain', doc: { _id: 7, name: 'replaced' } },
    { op: 'delete', ns: 'app.plain', id: 7 },
    { op: 'retryableWrite', session: 'ab'.repeat(16), txnNumber: Long.fromBigInt(2n ** 40n + 7n), reply: { n: 1, ok: 1 }, at: new Date(Date.UTC(2030, 0, 1, 1, 2, 3, 456)) },
    { op: 'retryableWrite', session: 'cd', txnNumber: 5, reply: { n: 1, ok: 1 }, at: new Date(0) },
    ...replies.map((reply, index): JournalOp => ({ op: 'retryableWrite', session: `s${index}`, txnNumber: Long.fromNumber(index), reply, at: new Date(1e12) })),
  ];
  const large: JournalOp[] = [{ op: 'insert', ns: 'app.large', doc: { _id: 1, blob: 'x'.repeat(300_000) } }];

  const batch = new RecordBatch();
  const sizes = [batch.append(ops), batch.append(large), batch.append([])];
  const expected = Buffer.concat([encodeRecord({ ops: ops.map(asSerialized) }), encodeRecord({ ops: large }), encodeRecord({ ops: [] })]);
  const written = Buffer.from(batch.contents());

  t.ok(written.equals(expected), 'same bytes as encodeRecord (the batch grew past its initial size on the way)');
  t.equal(sizes.reduce((a, b) => a + b, 0), written.length, 'append answers each record size');
  const decoded = decodeRecords(written);
  t.equal(decoded.validLength, written.length);
  t.same(decoded.records.map((record) => record.ops), [ops.map(asSerialized), large, []].map((list) => deserialize(serialize({ list }), DESERIALIZE_OPTIONS).list));

  batch.clear();
  t.equal(batch.length, 0, 'clear empties the batch');
  batch.append(ops.slice(0, 1));
  t.ok(Buffer.from(batch.contents()).equals(encodeRecord({ ops: [asSerialized(ops[0] as JournalOp)] })), 'and it takes the next batch');
});

t.test('a record that cannot be encoded leaves nothing half-written in the batch', async (t) => {
  const batch = new RecordBatch();
  batch.append([{ op: 'delete', ns: 'app.c', id: 1 }]);
  const before = Buffer.from(batch.contents());
  const circular: Document = { _id: 2 };
  circular.self = circular;
  t.throws(() => batch.append([{ op: 'insert', ns: 'app.c', doc: circular }]));
  t.ok(Buffer.from(batch.contents()).equals(before));
});

t.test('numbers-only documents: the same bytes as bson, and anything else is left to bson', async (t) => {
  for (const reply of replies) {
    const size = numbersOnlySize(reply);
    if (size === undefined) continue;
    const buffer = Buffer.alloc(size);
    t.equal(writeNumbersOnly(reply, size, buffer, 0), size);
    t.ok(buffer.equals(serialize(reply)), `${JSON.stringify(reply)} matches bson`);
  }
  t.equal(numbersOnlySize({ n: -0, ok: 1 }), undefined, '-0 goes to bson');
  t.equal(numbersOnlySize({ ok: 1, errmsg: 'x' }), undefined, 'strings go to bson');
  t.equal(numbersOnlySize({ 'a.b': 1 }), undefined, 'odd keys go to bson');
  for (const reply of replies) {
    const frame = encodeOpMsg(reply, 5, 9);
    t.same(deserialize(frame.subarray(21)), deserialize(serialize(reply)), 'an OP_MSG reply decodes to the reply');
  }
});

t.test('the documents of an insert are found as received, in a body array or a document sequence', async (t) => {
  const documents = [richDocument(), { _id: 'second', n: 2 }];
  const body = serialize({ insert: 'things', documents, ordered: true, $db: 'app' });
  const bytes = arrayElementBytes(Buffer.from(body), 0, 'documents');
  t.same(bytes?.map((item) => (item === undefined ? undefined : Buffer.from(item))), documents.map((doc) => Buffer.from(serialize(doc))));
  t.same(arrayElementBytes(Buffer.from(serialize({ documents: [{ a: 1 }, 5, { b: 2 }] })), 0, 'documents')?.map((item) => item?.length), [12, undefined, 12], 'an element that is not a document has no bytes');
  t.equal(arrayElementBytes(Buffer.from(serialize({ documents: { a: 1 } })), 0, 'documents'), undefined, 'not an array');
  t.equal(arrayElementBytes(Buffer.from(serialize({ other: [] })), 0, 'documents'), undefined, 'no such field');
  const twice = Buffer.concat([Buffer.from(serialize({ documents: [{ who: 'first' }] })).subarray(0, -1), Buffer.from(serialize({ documents: [{ who: 'second' }] })).subarray(4)]);
  twice.writeInt32LE(twice.length, 0);
  t.equal(arrayElementBytes(twice, 0, 'documents'), undefined, 'a duplicate field is not guessed at (bson keeps the last)');

  // The same command as a kind-1 document sequence, as drivers may send it.
  const head = Buffer.from(serialize({ insert: 'things', $db: 'app' }));
  const sequenceDocuments = Buffer.concat(documents.map((doc) => Buffer.from(serialize(doc))));
  const identifier = Buffer.from('documents\0');
  const sequenceLength = 4 + identifier.length + sequenceDocuments.length;
  const message = Buffer.alloc(16 + 4 + 1 + head.length + 1 + sequenceLength);
  message.writeInt32LE(message.length, 0);
  message.writeInt32LE(2013, 12);
  let at = 20;
  message[at++] = 0;
  head.copy(message, at);
  at += head.length;
  message[at++] = 1;
  message.writeInt32LE(sequenceLength, at);
  identifier.copy(message, at + 4);
  sequenceDocuments.copy(message, at + 4 + identifier.length);
  const parsed = parseMessage(message);
  if ('unsupportedOpCode' in parsed) throw new Error('not parsed');
  t.same(parsed.documentBytes?.map((item) => Buffer.from(item as Uint8Array)), documents.map((doc) => Buffer.from(serialize(doc))));
  t.equal(parsed.command.documents.length, 2);
});

t.test('an inserted document keeps the bytes it arrived as, with its _id moved or generated first', async (t) => {
  const driverStyle = { a: 1, nested: { b: [1, 2] }, _id: new ObjectId() }; // the Node driver appends the _id it generates
  t.ok(withIdFirst(serialize(driverStyle))?.equals(serialize({ _id: driverStyle._id, a: 1, nested: { b: [1, 2] } })), '_id moved to the front');
  const middle = { a: 'x', _id: 'mine', z: true };
  t.ok(withIdFirst(serialize(middle))?.equals(serialize({ _id: 'mine', a: 'x', z: true })), 'any _id type');
  const generated = new ObjectId();
  t.ok(withIdFirst(serialize({ a: 1, b: 'two' }), generated.id)?.equals(serialize({ _id: generated, a: 1, b: 'two' })), 'a generated ObjectId first');
  t.ok(withIdFirst(serialize({}), generated.id)?.equals(serialize({ _id: generated })), 'an empty document');
  t.equal(withIdFirst(serialize({ a: 1 })), undefined, 'no _id to move');
  t.equal(withIdFirst(serialize({ _id: 1 }), generated.id), undefined, 'an _id already there is not replaced');
  const twoIds = Buffer.concat([Buffer.from(serialize({ a: 'x', _id: 1 })).subarray(0, -1), Buffer.from(serialize({ _id: 2 })).subarray(4)]);
  twoIds.writeInt32LE(twoIds.length, 0);
  t.equal(withIdFirst(twoIds), undefined, 'a duplicate _id is not guessed at');
});

t.test('documents inserted by the driver are journaled with their _id first, and replay as stored', { skip: embeddedOnly }, async (t) => {
  const { dataDir, client } = await storeOnDisk(t, 'journal-id-first');
  const things = client.db('app').collection<AnyDocument>('things');
  await things.insertOne({ name: 'generated by the driver', n: 1 });
  await things.insertMany([{ name: 'given last', _id: 'x' }, { _id: 'y', name: 'given first' }]);
  const stored = await things.find({}, { sort: { name: 1 } }).toArray();
  const journal = (await readdir(dataDir)).find((name) => name.startsWith('journal-')) as string;
  const inserted = decodeRecords(await readFile(join(dataDir, journal))).records.flatMap((record) => (record.ops as JournalOp[]).filter((op) => op.op === 'insert'));
  t.same(
    inserted.map((op) => Buffer.from(serialize(op.op === 'insert' ? op.doc : {})).toString('hex')).sort(),
    stored.map((doc) => Buffer.from(serialize(doc)).toString('hex')).sort(),
    'the journal holds each document as the store keeps it, _id first',
  );
  t.ok(stored.every((doc) => Object.keys(doc)[0] === '_id'));
});
