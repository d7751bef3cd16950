/**
 * The embedded store on a worker thread (the hub's default for a store on disk): the same
 * server behind the same handle, its data kept across restarts, its log records delivered to
 * the caller's logger, and a start-up failure reported as a rejection.
 */
import t from 'tap';
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
