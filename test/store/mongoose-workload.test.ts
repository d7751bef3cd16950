/**
 * A representative mongoose workload, as the hub runs it: models with unique and TTL indexes,
 * create, queries with sort/skip/limit/projection, cursors needing getMore, update operators
 * and upserts, findOneAndUpdate, deleteMany, countDocuments, aggregate, insertMany with a
 * duplicate and ordered:false, bulkWrite and distinct.
 */
import t from 'tap';
import mongoose, { Schema } from 'mongoose';
import { connectMongoose, startTestServer } from './helpers.js';

const server = await startTestServer(t, 'mongoose');
const connection = await connectMongoose(t, server);

interface Patient {
  email: string;
  name: string;
  age: number;
  tags: string[];
  visits: number;
  org?: string;
}

const Patients = connection.model<Patient>(
  'Patient',
  new Schema<Patient>({
    email: { type: String, required: true, unique: true },
    name: String,
    age: Number,
    tags: { type: [String], default: [] },
    visits: { type: Number, default: 0 },
    org: String,
  }),
);

const Sessions = connection.model(
  'Session',
  new Schema({ token: String, createdAt: { type: Date, expires: 3600, default: () => new Date() } }),
);

await Patients.init();
await Sessions.init();

t.test('indexes declared by the schemas exist', async (t) => {
  const patientIndexes = await Patients.collection.listIndexes().toArray();
  const email = patientIndexes.find((index) => index.name === 'email_1');
  t.same(email?.key, { email: 1 });
  t.equal(email?.unique, true);
  const sessionIndexes = await Sessions.collection.listIndexes().toArray();
  t.equal(sessionIndexes.find((index) => index.name === 'createdAt_1')?.expireAfterSeconds, 3600);
});

t.test('create and find with sort, skip, limit and projection', async (t) => {
  await Patients.create(
    Array.from({ length: 30 }, (_, i) => ({ email: `p${i}@x.io`, name: `P${String(i).padStart(2, '0')}`, age: 20 + (i % 10), org: i % 2 ? 'odd' : 'even' })),
  );
  const page = await Patients.find({ org: 'odd' }, { name: 1, _id: 0 }).sort({ age: -1, name: 1 }).skip(2).limit(3).lean();
  t.same(page, [{ name: 'P29' }, { name: 'P07' }, { name: 'P17' }]);
  t.equal(await Patients.countDocuments({ age: { $gte: 25 } }), 15);
  t.equal(await Patients.estimatedDocumentCount(), 30);
});

t.test('a cursor larger than one batch is drained through getMore', async (t) => {
  const names: string[] = [];
  for await (const doc of Patients.find().sort({ name: 1 }).batchSize(7).cursor()) names.push(doc.name);
  t.equal(names.length, 30);
  t.equal(names[0], 'P00');
  t.equal(names[29], 'P29');
});

t.test('update operators and upserts', async (t) => {
  await Patients.updateOne({ email: 'p1@x.io' }, { $set: { name: 'Renamed' }, $inc: { visits: 2 }, $push: { tags: 'a' } });
  await Patients.updateOne({ email: 'p1@x.io' }, { $addToSet: { tags: { $each: ['a', 'b'] } } });
  const updated = await Patients.findOne({ email: 'p1@x.io' }).lean();
  t.equal(updated?.name, 'Renamed');
  t.equal(updated?.visits, 2);
  t.same(updated?.tags, ['a', 'b']);

  const upsert = await Patients.updateOne(
    { email: 'new@x.io' },
    { $set: { name: 'New' }, $setOnInsert: { age: 40 } },
    { upsert: true },
  );
  t.equal(upsert.upsertedCount, 1);
  const inserted = await Patients.findOne({ email: 'new@x.io' }).lean();
  t.equal(inserted?.age, 40);
  t.equal(inserted?.visits, 0, 'schema defaults arrive through $setOnInsert');

  await Patients.updateOne({ email: 'new@x.io' }, { $set: { name: 'Again' }, $setOnInsert: { age: 99 } }, { upsert: true });
  t.equal((await Patients.findOne({ email: 'new@x.io' }).lean())?.age, 40, '$setOnInsert ignored on update');

  const many = await Patients.updateMany({ org: 'even' }, { $inc: { visits: 1 } });
  t.equal(many.matchedCount, 15);
  t.equal(many.modifiedCount, 15);
});

t.test('findOneAndUpdate returns the document before or after', async (t) => {
  const before = await Patients.findOneAndUpdate({ email: 'p2@x.io' }, { $inc: { visits: 5 } }).lean();
  t.equal(before?.visits, 1);
  const after = await Patients.findOneAndUpdate({ email: 'p2@x.io' }, { $inc: { visits: 5 } }, { returnDocument: 'after' }).lean();
  t.equal(after?.visits, 11);
  const missing = await Patients.findOneAndUpdate({ email: 'nobody@x.io' }, { $set: { age: 1 } }).lean();
  t.equal(missing, null);
  const upserted = await Patients.findOneAndUpdate(
    { email: 'fresh@x.io' },
    { $set: { name: 'Fresh' } },
    { upsert: true, returnDocument: 'after' },
  ).lean();
  t.equal(upserted?.name, 'Fresh');
});

t.test('doc.save() sends $set, $push and $inc of __v', async (t) => {
  const doc = await Patients.findOne({ email: 'p3@x.io' });
  t.ok(doc);
  if (doc === null) return;
  doc.name = 'Saved';
  doc.tags.push('x', 'y');
  await doc.save();
  const reloaded = await Patients.findById(doc._id).lean();
  t.equal(reloaded?.name, 'Saved');
  t.same(reloaded?.tags, ['x', 'y']);
});

t.test('duplicate keys raise MongoServerError as in production', async (t) => {
  const error = await Patients.create({ email: 'p4@x.io', name: 'dup' }).catch((e: unknown) => e);
  t.equal((error as { name?: string }).name, 'MongoServerError');
  t.equal((error as { code?: number }).code, 11000);
  t.same((error as { keyValue?: unknown }).keyValue, { email: 'p4@x.io' });
  t.same((error as { keyPattern?: unknown }).keyPattern, { email: 1 });
  t.match((error as Error).message, /E11000 duplicate key error collection: .*\.patients index: email_1 dup key: \{ email: "p4@x.io" \}/);
});

t.test('insertMany with ordered:false reports the duplicate and inserts the rest', async (t) => {
  const error = await Patients.insertMany(
    [{ email: 'm1@x.io' }, { email: 'p5@x.io' }, { email: 'm2@x.io' }],
    { ordered: false },
  ).catch((e: unknown) => e);
  t.equal((error as { name?: string }).name, 'MongoBulkWriteError');
  const writeErrors = (error as { writeErrors: Array<{ index: number; code: number }> }).writeErrors;
  t.equal(writeErrors.length, 1);
  t.equal(writeErrors[0]?.index, 1);
  t.equal(writeErrors[0]?.code, 11000);
  t.equal(await Patients.countDocuments({ email: { $in: ['m1@x.io', 'm2@x.io'] } }), 2);
});

t.test('bulkWrite mixes inserts, updates and deletes', async (t) => {
  const result = await Patients.bulkWrite([
    { insertOne: { document: { email: 'bulk@x.io', name: 'Bulk' } } },
    { updateOne: { filter: { email: 'bulk@x.io' }, update: { $set: { age: 50 } } } },
    { updateMany: { filter: { org: 'odd' }, update: { $inc: { visits: 10 } } } },
    { deleteOne: { filter: { email: 'p0@x.io' } } },
    { replaceOne: { filter: { email: 'p6@x.io' }, replacement: { email: 'p6@x.io', name: 'Replaced' } } },
  ]);
  t.equal(result.insertedCount, 1);
  t.equal(result.matchedCount, 17);
  t.equal(result.deletedCount, 1);
  t.equal((await Patients.findOne({ email: 'bulk@x.io' }).lean())?.age, 50);
  t.equal((await Patients.findOne({ email: 'p6@x.io' }).lean())?.name, 'Replaced');
});

t.test('distinct', async (t) => {
  const orgs = await Patients.distinct('org', { email: /^p/ });
  t.same([...orgs].sort(), ['even', 'odd']);
});

t.test('aggregate with $match, $group, $sort and $lookup', async (t) => {
  const Visits = connection.model('Visit', new Schema({ email: String, minutes: Number }));
  await Visits.insertMany([
    { email: 'p7@x.io', minutes: 10 },
    { email: 'p7@x.io', minutes: 20 },
    { email: 'p9@x.io', minutes: 5 },
  ]);
  const byOrg = await Patients.aggregate<{ _id: string; n: number }>([
    { $match: { org: { $in: ['odd', 'even'] } } },
    { $group: { _id: '$org', n: { $sum: 1 } } },
    { $sort: { _id: 1 } },
  ]);
  t.same(byOrg.map((row) => row._id), ['even', 'odd']);
  const joined = await Patients.aggregate<{ email: string; total: number }>([
    { $match: { email: { $in: ['p7@x.io', 'p9@x.io'] } } },
    { $lookup: { from: 'visits', localField: 'email', foreignField: 'email', as: 'visits' } },
    { $project: { _id: 0, email: 1, total: { $sum: '$visits.minutes' } } },
    { $sort: { email: 1 } },
  ]);
  t.same(joined, [
    { email: 'p7@x.io', total: 30 },
    { email: 'p9@x.io', total: 5 },
  ]);
});

t.test('deleteMany and countDocuments', async (t) => {
  const deleted = await Patients.deleteMany({ org: 'odd' });
  t.equal(deleted.deletedCount, 15);
  t.equal(await Patients.countDocuments({ org: 'odd' }), 0);
});

t.teardown(() => mongoose.disconnect());
