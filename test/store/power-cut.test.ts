/**
 * A power cut loses what the disk had not synced. A reply must never rest on such a write:
 * - a write journaled after a compaction switched files is acknowledged only once the previous
 *   file is durable (the write it builds on may sit there);
 * - a write that journals nothing (no match, a no-op, E11000) answers only once the writes
 *   before it are durable, since its answer may rest on them.
 * The child (fixtures/power-cut-store.ts) holds journal bytes until a sync covers them, and
 * SIGKILL drops whatever is still held.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { MongoClient } from 'mongodb';
import { packageRoot } from '../../src/paths.js';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { embeddedOnly, temporaryDirectory, type AnyDocument, type TestLike } from './helpers.js';

const fixture = join(packageRoot, 'test/store/fixtures/power-cut-store.ts');

interface PowerCutStore {
  uri: string;
  cut(): Promise<void>;
}

async function startOnSlowDisk(dataDir: string, env: Record<string, string>): Promise<PowerCutStore> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const uri = await new Promise<string>((resolve, reject) => {
    child.once('exit', () => reject(new Error('the store child exited before listening')));
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = /URI (\S+)/.exec(String(chunk));
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
  return {
    uri,
    async cut() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function restartAndRead<T>(t: TestLike, dataDir: string, read: (client: MongoClient) => Promise<T>): Promise<T> {
  const store = await startEmbeddedStore({ dataDir });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  return read(client);
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Skipped with MONGO_URL: this is about the embedded store's journal, not MongoDB semantics.
t.test('a write after a compaction switch is not acknowledged before the previous journal is durable', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'power-cut-generation');
  // The first write starts a compaction; the old file syncs slowly, the new one fast.
  const store = await startOnSlowDisk(dataDir, { FIRST_FILE_SYNC_MS: '1500', SYNC_MS: '10', COMPACT_AFTER_BYTES: '1' });
  const writer = await MongoClient.connect(store.uri, { retryWrites: false });
  const updater = await MongoClient.connect(store.uri, { retryWrites: false });
  t.teardown(() => Promise.all([writer.close(true), updater.close(true)]).then(() => undefined));
  const insert = writer.db('app').collection<AnyDocument>('devices').insertOne({ _id: 'dev1', serial: 'S1', status: 'new', battery: 100, fw: '1.0' });
  insert.catch(() => undefined);
  await pause(150);
  // A patch of the document inserted above, journaled in the next generation.
  const update = await updater.db('app').collection<AnyDocument>('devices').updateOne({ _id: 'dev1' }, { $set: { battery: 42 } });
  t.equal(update.modifiedCount, 1);
  await store.cut();

  const devices = await restartAndRead(t, dataDir, (client) => client.db('app').collection<AnyDocument>('devices').find().toArray());
  t.same(devices.map((doc: AnyDocument) => doc.battery), [42], 'the acknowledged update and the insert it builds on survived');
});

t.test('a write that journals nothing answers only once the writes before it are durable', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'power-cut-noop');
  {
    const seed = await startEmbeddedStore({ dataDir });
    const client = await MongoClient.connect(seed.uri);
    await client.db('app').collection<AnyDocument>('events').insertMany([{ _id: 1, processed: false }, { _id: 2, processed: false }]);
    await client.db('app').collection('alerts').createIndex({ cause: 1 }, { unique: true });
    await client.close();
    await seed.close();
  }
  const store = await startOnSlowDisk(dataDir, { FIRST_FILE_SYNC_MS: '1500', SYNC_MS: '1500' });
  const first = await MongoClient.connect(store.uri, { retryWrites: false });
  const second = await MongoClient.connect(store.uri, { retryWrites: false });
  t.teardown(() => Promise.all([first.close(true), second.close(true)]).then(() => undefined));
  // Applied in memory at once, durable only after the slow sync.
  first.db('app').collection<AnyDocument>('events').updateMany({ processed: false }, { $set: { processed: true } }).catch(() => undefined);
  first.db('app').collection<AnyDocument>('alerts').insertOne({ cause: 'x' }).catch(() => undefined);
  await pause(300);

  const noop = await second.db('app').collection<AnyDocument>('events').updateMany({ processed: false }, { $set: { processed: true } });
  t.equal(noop.matchedCount, 0, 'the other client’s update is visible');
  const duplicate = await second
    .db('app')
    .collection<AnyDocument>('alerts')
    .findOneAndUpdate({ cause: 'y' }, { $set: { cause: 'x' } }, { upsert: true })
    .then(() => undefined, (error: unknown) => error as { code?: number });
  t.equal(duplicate?.code, 11000, 'the other client’s insert is visible');
  await store.cut();

  const after = await restartAndRead(t, dataDir, async (client) => ({
    unprocessed: await client.db('app').collection('events').countDocuments({ processed: false }),
    alerts: await client.db('app').collection('alerts').countDocuments({ cause: 'x' }),
  }));
  t.equal(after.unprocessed, 0, 'the update the no-op answer rested on survived');
  t.equal(after.alerts, 1, 'the insert the E11000 answer rested on survived');
});
