/**
 * Delivery guarantees of the simulator's outbox: an event stays until its
 * PUBACK arrives and is resent with the same eventId after a broker crash or a
 * simulator restart; only PUBACKed events are reported acknowledged; the
 * outbox is bounded.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Backoff } from '../../firmware-sim/backoff.js';
import { createSimClock } from '../../firmware-sim/clock.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { Outbox } from '../../firmware-sim/outbox.js';
import type { DeviceEvent } from '../../firmware-sim/payloads.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { until, waitForEvent } from './helpers/wait.js';

const eventIdOf = (payload: Buffer): string => (JSON.parse(payload.toString()) as { eventId: string }).eventId;

/**
 * A broker that PUBACKs the first `ackFirst` events and then sits on the next
 * one forever, as a hub whose store hangs before it crashes would.
 */
async function brokerThatStalls(ackFirst: number, port?: number) {
  const acked: string[] = [];
  const held: string[] = [];
  const broker = await startBroker({
    ...(port ? { port } : {}),
    aedes: {
      authorizePublish(_client, packet, callback) {
        if (!packet.topic.endsWith('/events')) return callback(null);
        const eventId = eventIdOf(packet.payload as Buffer);
        if (acked.length < ackFirst) {
          acked.push(eventId);
          return callback(null);
        }
        held.push(eventId); // never answered: no PUBACK
      },
    },
  });
  return { broker, acked, held };
}

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'medhub-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const receivedEventIds = (broker: TestBroker): string[] =>
  broker.captured.filter((m) => m.topic.endsWith('/events')).map((m) => (JSON.parse(m.payload) as { eventId: string }).eventId);

t.test('after a broker crash, unacknowledged events are resent with the same eventIds and the ack log is exact', async (t) => {
  const dir = await tempDir(t);
  const ackLogPath = join(dir, 'acks.jsonl');
  const first = await brokerThatStalls(2);
  const id = 'dev-crash';
  const queued = new Map<string, DeviceEvent>();
  const device = new SimulatedDispenser({
    id,
    url: first.broker.url,
    clock: createSimClock(),
    ackLogPath,
    backoff: { initialMs: 50, maxMs: 200 },
    heartbeatSeconds: 60,
  });
  device.on('queued', (event) => queued.set(event.eventId, event));
  t.teardown(() => device.stop());
  const connected = waitForEvent(device, 'connected');
  await device.start(); // queues device.reboot on connect
  await connected;
  device.pressHelp();
  device.tamper('tilt');
  device.pressHelp();
  await until(() => first.held.length > 0 && device.acknowledgedEventIds().length === 2, 5000, 'two acked and one held');
  t.same(device.acknowledgedEventIds(), first.acked, 'acknowledged means PUBACKed, nothing more');

  const disconnected = waitForEvent(device, 'disconnected');
  await first.broker.crash();
  await disconnected;
  device.pressHelp(); // while the hub is down: into the outbox
  device.pressHelp();
  t.equal(device.pendingEventIds().length, 4, 'the held event, the one behind it and two new ones wait');

  const second = await startBroker({ port: first.broker.port });
  t.teardown(() => second.close());
  await until(() => device.pendingEventIds().length === 0, 10_000, 'the outbox to drain into the new broker');

  const resent = receivedEventIds(second);
  t.ok(first.held.every((eventId) => resent.includes(eventId)), 'the event the old broker sat on arrives with the same eventId');
  t.same(resent.filter((eventId) => first.acked.includes(eventId)), [], 'acknowledged events are not sent again');
  t.same(new Set([...first.acked, ...resent]), new Set(queued.keys()), 'every queued event reached a broker');
  const payloadById = new Map(second.captured.filter((m) => m.topic.endsWith('/events')).map((m) => [JSON.parse(m.payload).eventId as string, m.payload]));
  for (const eventId of first.held) t.same(JSON.parse(payloadById.get(eventId) ?? '{}'), queued.get(eventId), 'the resend is the same event, byte for byte in meaning');

  await device.stop();
  const lines = (await readFile(ackLogPath, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { deviceId: string; eventId: string; type: string });
  t.same(lines.map((line) => line.eventId), device.acknowledgedEventIds(), 'one ack-log line per acknowledged event, in order');
  t.same(new Set(lines.map((line) => line.eventId)), new Set(queued.keys()), 'and every event ends up acknowledged');
  t.ok(lines.every((line) => line.deviceId === id && line.type === queued.get(line.eventId)?.type), 'lines name the device and the event type');
});

t.test('a persisted outbox survives a simulator restart', async (t) => {
  const dir = await tempDir(t);
  const outboxFile = join(dir, 'outbox', 'dev-restart.json');
  const stalling = await brokerThatStalls(0);
  t.teardown(() => stalling.broker.close());
  const id = 'dev-restart';
  const options = { id, clock: createSimClock(), outbox: { file: outboxFile }, heartbeatSeconds: 60, backoff: { initialMs: 50 } };
  const before = new SimulatedDispenser({ ...options, url: stalling.broker.url });
  const connected = waitForEvent(before, 'connected');
  await before.start();
  await connected;
  before.pressHelp();
  before.tamper('case_open');
  await until(() => stalling.held.length > 0, 5000, 'the broker to sit on the first event');
  const pending = before.pendingEventIds();
  t.equal(pending.length, 3, 'device.reboot, help.requested and device.tamper are unacknowledged');
  await before.stop({ graceful: false }); // power cut
  const saved = JSON.parse(await readFile(outboxFile, 'utf8')) as { entries: { id: string }[] };
  t.same(saved.entries.map((entry) => entry.id), pending, 'the outbox file holds them');

  const healthy = await startBroker();
  t.teardown(() => healthy.close());
  const after = new SimulatedDispenser({ ...options, url: healthy.url });
  t.teardown(() => after.stop());
  t.same(after.pendingEventIds(), [], 'nothing before loading');
  await after.start();
  await until(() => pending.every((eventId) => after.acknowledgedEventIds().includes(eventId)), 5000, 'the old events to be acknowledged');
  t.ok(pending.every((eventId) => receivedEventIds(healthy).includes(eventId)), 'resent with their original eventIds');
  await after.stop();
  const drained = JSON.parse(await readFile(outboxFile, 'utf8')) as { entries: unknown[] };
  t.same(drained.entries, [], 'the file is emptied once they are delivered');
});

t.test('the outbox is bounded and drops the oldest waiting message first', async (t) => {
  const outbox = new Outbox({ capacity: 3 });
  const add = (id: string) => outbox.add({ id, kind: 'event', label: 'help.requested', topic: 'v1/devices/d/events', payload: '{}', queuedAt: 0 });
  add('e1');
  add('e2');
  outbox.markInflight(outbox.nextWaiting()!); // e1 is on the wire
  add('e3');
  add('e4');
  add('e5');
  t.equal(outbox.size, 3);
  t.equal(outbox.dropped, 2);
  t.same(outbox.ids('event'), ['e1', 'e4', 'e5'], 'the in-flight e1 is kept, e2 and e3 were dropped');
  add('e4');
  t.equal(outbox.size, 3, 'an id already queued is not queued twice');
});

t.test('reconnect backoff grows, is capped and jittered', async (t) => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000 });
  const delays = Array.from({ length: 8 }, () => backoff.next());
  const ceilings = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
  delays.forEach((delay, index) => {
    const ceiling = ceilings[index] as number;
    t.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${index + 1}: ${Math.round(delay)} ms within [${ceiling / 2}, ${ceiling}]`);
  });
  backoff.reset();
  t.ok(backoff.next() <= 100, 'reset after a successful connection');
});
