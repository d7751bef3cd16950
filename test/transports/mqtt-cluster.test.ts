/**
 * The brokers' cluster parts (transports/mqtt/cluster.ts) when Redis is away: ioredis reports an
 * error on every reconnection attempt, and an unheard error event would end the hub's process.
 * The cross-instance behaviour itself is tested with two hubs in test/devices/instances.test.ts.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { createLogger } from '../../src/observability/logger.js';
import { createBrokerCluster } from '../../src/transports/mqtt/cluster.js';
import { eventually } from '../helpers/devices.js';

t.test('with its Redis unreachable, the broker cluster logs each error, never throws, and still closes', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('warn', { write: (line: string) => void lines.push(line) });
  // Nothing listens on port 1: every connection attempt of the bus's two connections and the persistence's fails at once.
  const cluster = createBrokerCluster('redis://127.0.0.1:1', 'test-unreachable:', logger);
  await eventually(async () => lines.some((line) => line.includes('broker bus: redis error')) && lines.some((line) => line.includes('broker persistence: redis error')));
  t.pass('the bus and the persistence errors are logged, and the process lives on');
  const answered = await Promise.race([cluster.ping().then(() => 'pong', () => 'refused'), new Promise((resolve) => setTimeout(() => resolve('no answer'), 1000))]);
  t.not(answered, 'pong', `its readiness ping fails (${String(answered)})`);

  const started = Date.now();
  await new Promise<void>((resolve) => cluster.bus.close(resolve));
  await cluster.close();
  t.ok(Date.now() - started < 10_000, `closed in ${Date.now() - started} ms`);
});

t.test('session owners: a claim names its instance; only that instance’s release forgets it', async (t) => {
  const logger = createLogger('silent');
  const cluster = createBrokerCluster(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', `test-owners-${randomUUID().slice(0, 8)}:`, logger);
  t.teardown(async () => {
    await new Promise<void>((resolve) => cluster.bus.close(resolve));
    await cluster.close();
  });
  const { owners } = cluster;
  t.equal(await owners.claim('dev-1', 'broker-b'), true);
  t.same(await owners.heldElsewhere(['dev-1', 'dev-2'], 'broker-a'), ['dev-1'], 'held by B, as A sees it; dev-2 has no record');
  t.same(await owners.heldElsewhere(['dev-1'], 'broker-b'), [], 'and its own, as B sees it');
  await owners.release('dev-1', 'broker-a');
  t.same(await owners.heldElsewhere(['dev-1'], 'broker-a'), ['dev-1'], 'A cannot release B’s claim');
  await owners.release('dev-1', 'broker-b');
  t.same(await owners.heldElsewhere(['dev-1'], 'broker-a'), [], 'B’s release forgets it');
});
