/**
 * The embedded store on a worker thread (the hub's default for a store on disk): the same
 * server behind the same handle, its data kept across restarts, its log records delivered to
 * the caller's logger, and a start-up failure reported as a rejection.
 */
import t from 'tap';
import type { Worker } from 'node:worker_threads';
import { MongoClient } from 'mongodb';
import { startEmbeddedStoreInWorker } from '../../src/store/embedded/worker.js';
import { embeddedOnly, temporaryDirectory } from './helpers.js';

function recordingLogger() {
  const messages: string[] = [];
  const record = (_details: Record<string, unknown>, message: string): void => void messages.push(message);
  return { messages, logger: { info: record, warn: record, error: record } };
}

t.test('a store on a worker thread serves, persists, and reports start-up failures', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'worker');
  const { messages, logger } = recordingLogger();
  const first = await startEmbeddedStoreInWorker({ dataDir, logger });
  t.match(first.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=medhub$/);
  const client = await MongoClient.connect(first.uri);
  await client.db('app').collection('items').insertMany([{ _id: 1, n: 1 } as never, { _id: 2, n: 2 } as never]);

  const second = startEmbeddedStoreInWorker({ dataDir });
  await t.rejects(second, /locked by running process/, 'a second store on the same directory is refused');

  await client.close();
  await first.close();
  t.ok(messages.includes('embedded store listening') && messages.includes('embedded store closed'), 'log records reach the caller');

  const again = await startEmbeddedStoreInWorker({ dataDir });
  t.teardown(() => again.close());
  const reader = await MongoClient.connect(again.uri);
  t.teardown(() => reader.close());
  t.same(await reader.db('app').collection('items').find({}, { sort: { _id: 1 } }).toArray(), [{ _id: 1, n: 1 }, { _id: 2, n: 2 }], 'data written through the thread survives a restart');
});

t.test('a store on a worker thread reports the commands it answered to the caller’s observer', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'worker-commands');
  const { messages, logger } = recordingLogger();
  const observed: Array<{ command: string; ok: boolean; collection: string | undefined; seconds: number }> = [];
  let throwOnce = true;
  const store = await startEmbeddedStoreInWorker({
    dataDir,
    logger,
    onCommand(command, seconds, ok, collection) {
      observed.push({ command, ok, collection, seconds });
      if (command === 'find' && throwOnce) {
        throwOnce = false;
        throw new Error('observer broke');
      }
    },
  });
  const client = await MongoClient.connect(store.uri);
  const items = client.db('app').collection('items');
  await items.insertOne({ _id: 1 } as never);
  await items.findOne({ _id: 1 } as never);
  await t.rejects(items.insertOne({ _id: 1 } as never), { code: 11000 });
  await client.close();
  await store.close(); // the last batch is delivered before the close completes

  const mine = observed.filter((o) => o.collection === 'items');
  t.same(
    mine.map(({ command, ok }) => ({ command, ok })),
    [
      { command: 'insert', ok: true },
      { command: 'find', ok: true },
      { command: 'insert', ok: true },
    ],
    'each command, in order, with its collection (a duplicate key is a write error in an ok reply, as mongod answers)',
  );
  t.ok(
    mine.every((o) => o.seconds > 0 && o.seconds < 5),
    'timed in seconds',
  );
  t.notOk(
    observed.some((o) => o.command === 'hello' || o.command === 'isMaster'),
    'handshakes are not reported',
  );
  t.ok(messages.includes('embedded store command observer failed'), 'an observer that throws is logged, and the batch goes on');
});

t.test('a thread that ends unasked is reported once; one closed on request is not', { skip: embeddedOnly }, async (t) => {
  const lost: Error[] = [];
  let thread: Worker | undefined;
  const store = await startEmbeddedStoreInWorker({ dataDir: await temporaryDirectory(t, 'worker-lost'), onUnexpectedExit: (error) => lost.push(error), onThread: (worker) => (thread = worker) });
  await thread?.terminate();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(lost.length, 1, 'the caller hears that the store is gone');
  t.match(lost[0]?.message, /embedded store thread exited with code/);
  await store.close();

  const closedOnRequest: Error[] = [];
  const other = await startEmbeddedStoreInWorker({ dataDir: await temporaryDirectory(t, 'worker-closed'), onUnexpectedExit: (error) => closedOnRequest.push(error) });
  await other.close();
  await new Promise((resolve) => setImmediate(resolve));
  t.same(closedOnRequest, [], 'a requested close is not a loss');
});
