/**
 * Connection handling: refused credentials are retried with growing,
 * jittered delays (never a tight loop, never a crash); a stopped device stops
 * trying; the Last Will and the `online` of one connection share its id.
 */
import t from 'tap';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { startBroker, payloadsOn } from './helpers/broker.js';
import { until, waitForEvent } from './helpers/wait.js';

t.test('refused credentials are retried with backoff until stopped', async (t) => {
  const refusals: number[] = [];
  const broker = await startBroker({
    aedes: {
      authenticate(_client, _username, _password, done) {
        refusals.push(Date.now());
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false);
      },
    },
  });
  t.teardown(() => broker.close());
  const device = new SimulatedDispenser({ id: 'dev-refused', secret: 'wrong', url: broker.url, backoff: { initialMs: 40, maxMs: 400 } });
  await device.start();
  await until(() => refusals.length >= 5, 5000, 'five refused attempts');
  await device.stop();
  const gaps = refusals.slice(1).map((at, index) => at - (refusals[index] as number));
  t.ok(gaps.every((gap) => gap >= 15), `no tight loop: gaps ${gaps.join(', ')} ms`);
  t.ok((gaps[3] as number) > (gaps[0] as number), 'delays grow');
  t.equal(device.stats().connects, 0);
  const attempts = refusals.length;
  await new Promise((resolve) => setTimeout(resolve, 500)); // the only way to see that nothing happens
  t.equal(refusals.length, attempts, 'no attempt after stop');
});

t.test('online and the Last Will of a connection carry the same connectionId', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const device = new SimulatedDispenser({ id: 'dev-will', url: broker.url, backoff: { initialMs: 20 } });
  t.teardown(() => device.stop());
  const first = waitForEvent<[string]>(device, 'connected');
  await device.start();
  const [connectionId] = await first;
  const second = waitForEvent<[string]>(device, 'connected');
  device.goOffline(0); // drop the socket; come back at once
  const [nextConnectionId] = await second;
  await broker.waitFor((m) => m.topic.endsWith('/status') && JSON.parse(m.payload).state === 'offline');
  await broker.waitFor((m) => m.topic.endsWith('/status') && JSON.parse(m.payload).connectionId === nextConnectionId);
  const statuses = payloadsOn<{ state: string; connectionId: string; reason?: string }>(broker, 'status', 'dev-will');
  t.match(statuses.find((s) => s.state === 'offline'), { reason: 'connection_lost', connectionId });
  t.not(nextConnectionId, connectionId, 'a new connection gets a new id');
  t.ok(statuses.some((s) => s.state === 'online' && s.connectionId === nextConnectionId), 'announced by the new online');
});
