/**
 * Journal and snapshot: acknowledged writes survive a restart, with and without a clean
 * close, and the data directory is locked against a second store.
 */
import t from 'tap';
import { readdir } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import mongoose, { Schema } from 'mongoose';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { embeddedOnly, temporaryDirectory } from './helpers.js';

// Skipped with MONGO_URL: this is about the embedded store's own files, not MongoDB semantics.
t.test('writes survive a clean restart (snapshot) and keep unique indexes', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'restart');
  const first = await startEmbeddedStore({ dataDir });
  const connection = await mongoose.createConnection(first.uri, { dbName: 'app' }).asPromise();
  const Users = connection.model('User', new Schema({ email: { type: String, unique: true }, n: Number }));
  await Users.init();
  await Users.create([{ email: 'a@x.io', n: 1 }, { email: 'b@x.io', n: 2 }]);
  await Users.updateOne({ email: 'a@x.io' }, { $inc: { n: 10 } });
  await Users.deleteOne({ email: 'b@x.io' });
  await connection.close();
  await first.close();
  t.ok((await readdir(dataDir)).includes('snapshot.bson'), 'close writes a snapshot');

  const second = await startEmbeddedStore({ dataDir });
  t.teardown(() => second.close());
  const client = await MongoClient.connect(second.uri);
  t.teardown(() => client.close());
  const users = client.db('app').collection('users');
  t.same(await users.find({}, { projection: { _id: 0, email: 1, n: 1 } }).toArray(), [{ email: 'a@x.io', n: 11 }]);
  const error = await users.insertOne({ email: 'a@x.io' }).catch((e: unknown) => e);
  t.equal((error as { code?: number }).code, 11000, 'the unique index came back with the data');
});

t.test('a second store cannot open a locked data directory', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'lock');
  const first = await startEmbeddedStore({ dataDir });
  t.teardown(() => first.close());
  await t.rejects(startEmbeddedStore({ dataDir }), /locked by running process/);
});
