/** deferredBatch: what arrives within the delay is written in one call; a full batch, or flush(), goes out at once; a failed write rejects its own items only. */
import t from 'tap';
import { deferredBatch } from '../../src/features/deferred-batch.js';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('items within the delay share one write, after the delay', async (t) => {
  const writes: number[][] = [];
  const batch = deferredBatch<number>(async (items) => void writes.push(items), { delayMs: 40, maxBatch: 100 });
  const started = performance.now();
  const first = batch.add(1);
  await tick(10);
  const rest = [batch.add(2), batch.add(3)];
  t.equal(batch.waiting, 3);
  t.same(writes, [], 'nothing written before the delay');
  await Promise.all([first, ...rest]);
  t.ok(performance.now() - started >= 35, 'written about the delay after the first item');
  t.same(writes, [[1, 2, 3]], 'in one write, in order');
  await batch.add(4);
  t.same(writes, [[1, 2, 3], [4]], 'a later item starts a new batch');
});

t.test('a full batch goes out at once; flush() writes what waits and what is in flight', async (t) => {
  const writes: number[][] = [];
  let slow = Promise.resolve();
  const batch = deferredBatch<number>(async (items) => {
    await slow;
    writes.push(items);
  }, { delayMs: 10_000, maxBatch: 2 });
  await Promise.all([batch.add(1), batch.add(2)]);
  t.same(writes, [[1, 2]], 'written without waiting for the delay');
  let release = (): void => undefined;
  slow = new Promise((resolve) => (release = resolve));
  const pending = batch.add(3);
  const flushed = batch.flush();
  t.equal(batch.waiting, 0, 'taken at once');
  let done = false;
  void flushed.then(() => (done = true));
  await tick(10);
  t.notOk(done, 'flush() waits for the write');
  release();
  await Promise.all([pending, flushed]);
  t.same(writes, [[1, 2], [3]]);
  await batch.flush();
  t.pass('flush() with nothing waiting resolves');
});

t.test('a failed write rejects the items of its batch, and the next batch is written', async (t) => {
  let fail = true;
  const writes: string[][] = [];
  const batch = deferredBatch<string>(async (items) => {
    if (fail) throw new Error('store down');
    writes.push(items);
  }, { delayMs: 5, maxBatch: 10 });
  const failed = await Promise.allSettled([batch.add('a'), batch.add('b')]);
  t.same(failed.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')), ['store down', 'store down']);
  fail = false;
  await batch.add('c');
  t.same(writes, [['c']]);
});
