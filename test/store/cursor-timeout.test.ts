/**
 * Idle cursors are closed after the cursor timeout (mongod: cursorTimeoutMillis, 10 minutes).
 */
import t from 'tap';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { embeddedOnly } from './helpers.js';

// Skipped with MONGO_URL: it shortens the embedded store's cursor timeout, which a test cannot
// do on a shared mongod.
t.test('an idle cursor times out and getMore answers CursorNotFound', { skip: embeddedOnly }, async (t) => {
  const store = await startEmbeddedStore({ inMemory: true, cursorTimeoutMs: 250 });
  t.teardown(() => store.close());
  const client = await MongoClient.connect(store.uri);
  t.teardown(() => client.close());
  const db = client.db('cursors');
  await db.collection('c').insertMany(Array.from({ length: 20 }, (_, i) => ({ i })));
  const busy = await db.command({ find: 'c', batchSize: 1 });
  const idle = await db.command({ find: 'c', batchSize: 1 });
  // Keep one cursor in use while the other idles past the timeout (there is no event to await).
  // 12 x 50 ms: the idle cursor passes its 250 ms timeout and a 250 ms sweep; the busy one
  // is never idle for more than 50 ms.
  for (let i = 0; i < 12; i++) {
    await delay(50);
    const more = await db.command({ getMore: busy.cursor.id, collection: 'c', batchSize: 1 });
    t.equal(more.cursor.nextBatch.length, 1, 'a cursor in use stays open');
  }
  const error = await db.command({ getMore: idle.cursor.id, collection: 'c' }).catch((e: unknown) => e as { code?: number });
  t.equal((error as { code?: number }).code, 43, 'CursorNotFound');
});
