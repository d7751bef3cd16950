/**
 * Journal and snapshot: acknowledged writes survive a restart, with and without a clean
 * close, and the data directory is locked against a second store.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serialize } from 'bson';
import { MongoClient } from 'mongodb';
import mongoose, { Schema } from 'mongoose';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { DataDirectoryLock } from '../../src/store/embedded/persistence/lock-file.js';
import { decodeRecords, encodeRecord } from '../../src/store/embedded/persistence/records.js';
import { embeddedOnly, storeOnDisk, temporaryDirectory, type AnyDocument } from './helpers.js';

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

t.test('a stale lock left by a dead process is taken over', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'stale');
  const child = spawn(process.execPath, ['-e', '']);
  const deadPid = child.pid;
  await new Promise((resolve) => child.once('exit', resolve));
  await writeFile(join(dataDir, 'mongod.lock'), `${String(deadPid)}\n`);
  const store = await startEmbeddedStore({ dataDir });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  t.equal((await client.db('admin').command({ ping: 1 })).ok, 1);
});

t.test('a stale lock whose pid is alive again (our own, or pid 1 after a container restart) is taken over', { skip: embeddedOnly }, async (t) => {
  for (const pid of [process.pid, 1]) {
    const dataDir = await temporaryDirectory(t, 'stale-live-pid');
    await writeFile(join(dataDir, 'mongod.lock'), `${String(pid)}\n`);
    const store = await startEmbeddedStore({ dataDir }).catch((error: unknown) => error as Error);
    t.notOk(store instanceof Error, `a lock naming pid ${pid} left by a killed process does not block the start${store instanceof Error ? `: ${store.message}` : ''}`);
    if (!(store instanceof Error)) await store.close();
  }
});

t.test('a lock recorded by another live process blocks the start and names it', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'live-owner');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => undefined, 60_000)']);
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  const pid = child.pid as number;
  // What that process would have recorded: pid, start time (field 22 of its stat) and boot id.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  await writeFile(join(dataDir, 'mongod.lock'), `${JSON.stringify({ pid, startTime, bootId })}\n`);
  await t.rejects(startEmbeddedStore({ dataDir }), new RegExp(`locked by running process ${pid}`));
  // The same pid with another start time is a different process: the record is stale.
  await writeFile(join(dataDir, 'mongod.lock'), `${JSON.stringify({ pid, startTime: `${startTime ?? ''}1`, bootId })}\n`);
  const store = await startEmbeddedStore({ dataDir });
  await store.close();
});

t.test('two takers of a stale lock: exactly one gets it', { skip: embeddedOnly }, async (t) => {
  const parent = await temporaryDirectory(t, 'lock-race');
  let doubleHeld = 0;
  for (let trial = 0; trial < 300; trial++) {
    const dataDir = join(parent, String(trial));
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'mongod.lock'), '999999999\n');
    const taken = await Promise.allSettled([DataDirectoryLock.acquire(dataDir), DataDirectoryLock.acquire(dataDir)]);
    const holders = taken.filter((result) => result.status === 'fulfilled').map((result) => result.value);
    if (holders.length !== 1) doubleHeld += 1;
    for (const lock of holders) await lock.release();
  }
  t.equal(doubleHeld, 0, 'never both (nor neither)');
});

t.test('a record in a later journal that builds on a write lost in a crash ends recovery there', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'lost-write');
  const record = (ops: AnyDocument[]): Buffer => encodeRecord({ ops });
  const device = (id: string): AnyDocument => ({ _id: id, serial: id, status: 'new', battery: 100, fw: '1.0' });
  // Generation 1 lost the insert of d2 in a power cut; generation 2 still holds a patch of d2
  // (never acknowledged: it waited for generation 1) and a write after it.
  await writeFile(join(dataDir, 'journal-00000001.log'), record([{ op: 'insert', ns: 'app.devices', doc: device('d1') }]));
  await writeFile(
    join(dataDir, 'journal-00000002.log'),
    Buffer.concat([
      record([{ op: 'patch', ns: 'app.devices', id: 'd1', set: { battery: 90 } }]),
      record([{ op: 'patch', ns: 'app.devices', id: 'd2', set: { battery: 42 } }]),
      record([{ op: 'insert', ns: 'app.devices', doc: device('d3') }]),
    ]),
  );
  await writeFile(join(dataDir, 'journal-00000003.log'), record([{ op: 'insert', ns: 'app.devices', doc: device('d4') }]));
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (_details: unknown, message: string) => warnings.push(message), error: () => undefined };
  const store = await startEmbeddedStore({ dataDir, logger });
  const client = await MongoClient.connect(store.uri);
  const devices = await client.db('app').collection<AnyDocument>('devices').find({}, { projection: { battery: 1 } }).toArray();
  t.same(devices, [{ _id: 'd1', battery: 90 }], 'everything before the dangling patch, nothing from it on');
  t.ok(warnings.some((message) => message.startsWith('journal replay stopped')), 'and says so');
  await client.db('app').collection<AnyDocument>('devices').insertOne(device('d5'));
  await client.close();
  // Kill-like restart: no close, so the next start replays the (cut) journals again.
  const copy = await temporaryDirectory(t, 'lost-write-copy');
  for (const name of (await readdir(dataDir)).filter((file) => file.startsWith('journal-'))) await writeFile(join(copy, name), await readFile(join(dataDir, name)));
  await store.close();
  const again = await startEmbeddedStore({ dataDir: copy });
  t.teardown(() => again.close());
  const reader = await MongoClient.connect(again.uri);
  t.teardown(() => reader.close());
  const ids = (await reader.db('app').collection<AnyDocument>('devices').find().toArray()).map((doc) => doc._id);
  t.same(ids, ['d1', 'd5'], 'a write acknowledged after the cut survives the next recovery');
});

t.test('a dangling patch in the first journal after the snapshot is damage: recovery refuses', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'damaged');
  await writeFile(join(dataDir, 'journal-00000001.log'), encodeRecord({ ops: [{ op: 'patch', ns: 'app.devices', id: 'd9', set: { battery: 1 } }] }));
  await t.rejects(startEmbeddedStore({ dataDir }), /journal patch of a missing document/);
});

t.test('compaction while writing keeps every write', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'compact');
  const first = await startEmbeddedStore({ dataDir, compactAfterBytes: 32 * 1024 });
  const client = await MongoClient.connect(first.uri, { maxPoolSize: 10 });
  const items = client.db('app').collection<{ _id: number; n: number }>('items');
  await items.createIndex({ n: 1 }, { unique: true });
  await Promise.all(
    Array.from({ length: 10 }, async (_, worker) => {
      for (let i = 0; i < 200; i++) await items.insertOne({ _id: worker * 1000 + i, n: worker * 1000 + i });
    }),
  );
  await items.updateMany({}, { $inc: { n: 100_000 } });
  await items.deleteMany({ _id: { $lt: 100 } });
  const journals = (await readdir(dataDir)).filter((name) => name.startsWith('journal-'));
  t.ok(journals.length <= 2, `old journals were removed (${journals.join(', ')})`);
  await client.close();
  await first.close();

  const second = await startEmbeddedStore({ dataDir });
  t.teardown(() => second.close());
  const reader = await MongoClient.connect(second.uri);
  t.teardown(() => reader.close());
  const restored = reader.db('app').collection<{ _id: number; n: number }>('items');
  t.equal(await restored.countDocuments(), 1900);
  t.equal(await restored.countDocuments({ n: { $gte: 100_000 } }), 1900);
  const duplicate = await restored.insertOne({ _id: 5, n: 100_000 + 1005 }).catch((error: unknown) => error as { code?: number });
  t.equal((duplicate as { code?: number }).code, 11000, 'the unique index was restored');
});

t.test('compaction waits until the journal is as large as the last snapshot', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'compact-ratio');
  const options = { dataDir, compactAfterBytes: 8 * 1024 };
  const activeJournal = async (): Promise<string> => (await readdir(dataDir)).filter((name) => name.startsWith('journal-')).sort().at(-1) ?? '';
  const snapshotBytes = async (): Promise<number> => (await stat(join(dataDir, 'snapshot.bson')).catch(() => ({ size: 0 }))).size;
  const settled = async (): Promise<void> => {
    // Compaction runs in the background after a commit; wait until the files stop changing.
    let before = '';
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const now = `${await activeJournal()} ${await snapshotBytes()} ${(await readdir(dataDir)).length}`;
      if (now === before) return;
      before = now;
    }
  };

  // ~900 KB of data; closing snapshots all of it, so the reopened store starts with an empty
  // journal and a snapshot of the whole data set (its size is read back at open).
  const first = await startEmbeddedStore(options);
  const loader = await MongoClient.connect(first.uri);
  const loading = loader.db('app').collection<{ _id: number; text: string; n: number }>('items');
  for (let batch = 0; batch < 20; batch++) {
    await loading.insertMany(Array.from({ length: 100 }, (_, i) => ({ _id: batch * 100 + i, text: 'x'.repeat(400), n: 0 })));
  }
  await loader.close();
  await first.close();
  const snapshot = await snapshotBytes();
  t.ok(snapshot > 800 * 1024, `a snapshot holds the data set (${snapshot} bytes)`);

  const store = await startEmbeddedStore(options);
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  const items = client.db('app').collection<{ _id: number; text: string; n: number }>('items');
  const journal = await activeJournal();

  // ~150 KB of updates: far past compactAfterBytes, well below the snapshot's size — no rewrite of 900 KB.
  for (let i = 0; i < 300; i++) await items.updateOne({ _id: i }, { $inc: { n: 1 } });
  await settled();
  t.equal(await activeJournal(), journal, 'small writes after a large snapshot do not compact');

  // About twice the snapshot's size of writes: compaction runs again.
  for (const letter of ['y', 'z']) {
    for (let batch = 0; batch < 20; batch++) {
      await items.updateMany({ _id: { $gte: batch * 100, $lt: batch * 100 + 100 } }, { $set: { text: letter.repeat(400) } });
    }
  }
  await settled();
  t.not(await activeJournal(), journal, 'a journal as large as the snapshot is compacted');
  t.equal(await items.countDocuments({ text: 'z'.repeat(400) }), 2000);
});

t.test('updates journaled as patches replay to the very same documents', { skip: embeddedOnly }, async (t) => {
  const { dataDir, client } = await storeOnDisk(t, 'patch');
  const devices = client.db('app').collection<AnyDocument>('devices');
  const schedule = { version: 3, items: Array.from({ length: 20 }, (_, i) => ({ slot: i, times: ['08:00', '20:00'] })) };
  await devices.insertMany(
    Array.from({ length: 4 }, (_, i) => ({ _id: `d${i}`, serial: `S${i}`, online: false, battery: 100, rssi: -60, schedule, constructor: 'a field named like a prototype member', toString: i })),
  );
  await devices.updateOne({ _id: 'd0' }, { $set: { online: true, battery: 97 } }); // a patch
  await devices.updateOne({ _id: 'd0' }, { $inc: { battery: -1 }, $currentDate: { lastSeenAt: true } }); // a new field: replaced
  await devices.updateOne({ _id: 'd1' }, { $set: { constructor: 'changed', toString: 9 } }); // a patch of odd names
  await devices.updateOne({ _id: 'd2' }, { $unset: { rssi: '' } }); // a field removed: replaced
  await devices.updateOne({ _id: 'd3' }, { $set: { 'schedule.version': 4 } }); // a patch of a nested path
  await devices.findOneAndUpdate({ _id: 'd3' }, { $set: { online: true } });
  await devices.updateMany({}, { $set: { serial: 'same for all' } });
  await devices.updateOne({ _id: 'd1' }, { $mul: { rssi: -0 } }); // -60 → -0: a change that === cannot see
  await devices.updateOne({ _id: 'd1' }, { $mul: { rssi: -1 } }); // -0 → 0
  await devices.insertOne({ _id: 'u', a: 1, b: 2, c: 3, d: 4 });
  await devices.updateOne({ _id: 'u' }, [{ $project: { a: 1, b: 1, c: 1, d: 1, e: '$missing' } }]); // leaves e undefined in memory
  await devices.updateOne({ _id: 'u' }, { $set: { e: 5 } }); // e must survive replay

  // Replay the journal in a copy of the data directory (the first store is still open: no snapshot).
  const copy = await temporaryDirectory(t, 'patch-copy');
  const journals = (await readdir(dataDir)).filter((name) => name.startsWith('journal-'));
  const ops = [];
  for (const name of journals) {
    const bytes = await readFile(join(dataDir, name));
    await writeFile(join(copy, name), bytes);
    ops.push(...decodeRecords(bytes).records.flatMap((record) => record.ops as Array<{ op: string }>));
  }
  const patches = ops.filter((op) => op.op === 'patch') as Array<{ op: 'patch'; set: AnyDocument }>;
  t.ok(patches.length >= 5, 'value-only updates were journaled as patches');
  t.ok(patches.some((op) => Object.keys(op.set).join() === 'online,battery'), 'only the changed fields, not the (cloned) schedule');
  t.ok(ops.some((op) => op.op === 'replace'), 'updates that add or remove fields still journal the document');
  const second = await startEmbeddedStore({ dataDir: copy });
  t.teardown(() => second.close());
  const replayedClient = await MongoClient.connect(second.uri);
  t.teardown(() => replayedClient.close());
  const original = await devices.find({}, { sort: { _id: 1 } }).toArray();
  const replayed = await replayedClient.db('app').collection<AnyDocument>('devices').find({}, { sort: { _id: 1 } }).toArray();
  t.same(replayed.map((doc) => Buffer.from(serialize(doc)).toString('hex')), original.map((doc) => Buffer.from(serialize(doc)).toString('hex')), 'byte for byte, field order included');
  t.equal(original[1]?.constructor, 'changed');
});
