/**
 * The heartbeat queue on its own (a pure module: the write function is the test's), then over
 * MQTT: a burst of heartbeats costs fewer writes and the live status is the latest; the pause
 * grows while the hub's event loop is saturated and shrinks once it has room.
 */
import t from 'tap';
import { createLatestQueue, nextPause } from '../../src/features/devices/heartbeat-queue.js';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';
import { connectDevice, eventually, heartbeat, provisionDevice, topic } from '../helpers/devices.js';

const pace = { minMs: 50, maxMs: 1000 };

t.test('nextPause doubles while saturated, halves with room, stays within its bounds', async (t) => {
  t.equal(nextPause(50, 0.95, pace), 100);
  t.equal(nextPause(800, 0.99, pace), 1000, 'never past the longest pause');
  t.equal(nextPause(400, 0.3, pace), 200);
  t.equal(nextPause(60, 0.1, pace), 50, 'never below the shortest');
  t.equal(nextPause(200, 0.7, pace), 200, 'in between: kept');
  t.equal(nextPause(0, 0.95, pace), 50, 'from zero (a closing queue) back into the bounds');
});

type Item = { key: string; n: number };

function recordingWrite(hold?: Promise<void>) {
  const batches: Item[][] = [];
  const write = async (items: Item[]) => {
    batches.push(items);
    await hold;
    return items.map((item) => (item.n < 0 ? new Error(`refused ${item.key}`) : `wrote ${item.key}#${item.n}`));
  };
  return { batches, write };
}

t.test('a newer item of a key takes the place of one still waiting; its caller is answered null', async (t) => {
  const { batches, write } = recordingWrite();
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 500 });
  const first = queue.push({ key: 'a', n: 1 });
  const second = queue.push({ key: 'a', n: 2 });
  const other = queue.push({ key: 'b', n: 1 });
  const third = queue.push({ key: 'a', n: 3 });
  t.equal(await first, null);
  t.equal(await second, null);
  t.equal(await third, 'wrote a#3');
  t.equal(await other, 'wrote b#1');
  t.same(batches, [[{ key: 'a', n: 3 }, { key: 'b', n: 1 }]], 'one write, one item per key, the latest');
});

t.test('flushes never overlap: what arrives during a write waits for it, and the next write takes the latest', async (t) => {
  let release: () => void = () => undefined;
  const { batches, write } = recordingWrite(new Promise((resolve) => (release = resolve)));
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 500 });
  const first = queue.push({ key: 'a', n: 1 });
  await eventually(async () => batches.length === 1);
  const during = [queue.push({ key: 'a', n: 2 }), queue.push({ key: 'a', n: 3 })];
  await new Promise((resolve) => setTimeout(resolve, 3 * pace.minMs));
  t.equal(batches.length, 1, 'no second write while the first is running');
  release();
  t.equal(await first, 'wrote a#1');
  t.same(await Promise.all(during), [null, 'wrote a#3']);
  t.same(batches[1], [{ key: 'a', n: 3 }]);
});

t.test('a refused item rejects its own caller only; large flushes are split into batches', async (t) => {
  const { batches, write } = recordingWrite();
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 2 });
  const results = await Promise.allSettled([1, 2, -3, 4, 5].map((n) => queue.push({ key: `k${Math.abs(n)}`, n })));
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  t.match((results[2] as PromiseRejectedResult).reason, { message: 'refused k3' });
  t.same(batches.map((batch) => batch.length), [2, 2, 1]);
});

t.test('the batches of one large flush are written one after another, not all at once', async (t) => {
  let running = 0;
  let most = 0;
  const write = async (items: Item[]) => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 10));
    running -= 1;
    return items.map((item) => item.n);
  };
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 10 });
  const results = await Promise.all(Array.from({ length: 45 }, (_, n) => queue.push({ key: `k${n}`, n })));
  t.same(results, Array.from({ length: 45 }, (_, n) => n));
  t.equal(most, 1, 'never two writes at a time');
});

t.test('close writes what waits at once, and every later item without a pause', async (t) => {
  const { batches, write } = recordingWrite();
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace: { minMs: 60_000, maxMs: 60_000 }, maxBatch: 500 });
  const waiting = queue.push({ key: 'a', n: 1 });
  const started = Date.now();
  await queue.close();
  t.equal(await waiting, 'wrote a#1');
  t.equal(await queue.push({ key: 'b', n: 1 }), 'wrote b#1');
  t.ok(Date.now() - started < 5000, 'not after the minute-long pause');
  t.equal(batches.length, 2);
});

t.test('close resolves while items keep arriving: it waits for what was there, later items are written at once', async (t) => {
  const { batches, write } = recordingWrite(new Promise((resolve) => setTimeout(resolve, 5)));
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 500 });
  let n = 0;
  const pushing = setInterval(() => void queue.push({ key: `k${n}`, n: n++ }), 1);
  t.teardown(() => clearInterval(pushing));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const closed = await Promise.race([queue.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open'), 2000))]);
  clearInterval(pushing);
  t.equal(closed, 'closed');
  t.ok(batches.length >= 1);
});

t.test('drop answers null to the waiting item of a key, and it is not written', async (t) => {
  const { batches, write } = recordingWrite();
  const queue = createLatestQueue(write, { keyOf: (item: Item) => item.key, pace, maxBatch: 500 });
  const dropped = queue.push({ key: 'a', n: 1 });
  const kept = queue.push({ key: 'b', n: 1 });
  queue.drop('a');
  queue.drop('nothing waits here');
  t.equal(await dropped, null);
  t.equal(await kept, 'wrote b#1');
  t.same(batches, [[{ key: 'b', n: 1 }]]);
});

t.test('over MQTT: a burst of heartbeats is written once, and the live status is the latest', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(caregiver, 'connect');
  await caregiver.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const told: number[] = [];
  caregiver.on('device:status', (update: { deviceId: string; batteryPercent?: number | null }) => {
    if (update.deviceId === device.id && typeof update.batteryPercent === 'number') told.push(update.batteryPercent);
  });

  const last = nextEventWhere<{ batteryPercent: number }>(caregiver, 'device:status', (update) => update.batteryPercent === 80);
  // One burst: the device's heartbeats reach the hub before the queue's 50 ms pause is over.
  for (let battery = 99; battery >= 80; battery--) client.publish(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: battery })), { qos: 0 });
  await last;
  const view = await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.caregiver.token });
  t.match(view.body.status, { online: true, batteryPercent: 80 }, 'the stored status is the last heartbeat’s');
  t.ok(told.length < 20, `the caregiver was told fewer than the 20 heartbeats (${told.length}: ${told.join(', ')})`);
  t.equal(told.at(-1), 80, 'and the last thing told is the latest');
  const metrics = await (await fetch(`${hub.urls.http}/metrics`)).text();
  const superseded = Number(/^medhub_heartbeats_superseded_total (\d+)$/m.exec(metrics)?.[1]);
  t.equal(superseded, 20 - told.length, 'every heartbeat not told was counted as superseded');
});

t.test('over MQTT: the pause grows while the event loop is saturated, and comes back once it has room', async (t) => {
  const hub = await startTestHub(t, { env: { HEARTBEAT_MAX_PAUSE_MS: '800' } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const pause = async () => Number(/^medhub_heartbeat_write_pause_seconds (\S+)$/m.exec(await (await fetch(`${hub.urls.http}/metrics`)).text())?.[1]);
  const beat = (battery: number) => client.publish(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: battery })), { qos: 0 });

  // Saturate the hub's event loop (it runs in this process): busy for 95 ms of every 100, with heartbeats coming.
  let battery = 100;
  const saturatedUntil = Date.now() + 1500;
  while (Date.now() < saturatedUntil) {
    beat(battery--);
    const busyUntil = Date.now() + 95;
    while (Date.now() < busyUntil);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const grown = await pause();
  t.ok(grown >= 0.2, `the pause grew to ${grown} s`);
  t.ok(grown <= 0.8, 'and not past HEARTBEAT_MAX_PAUSE_MS');

  // With room again, a few heartbeats later the pause is back to 50 ms, and the latest status is stored.
  const settled = await eventually(async () => {
    beat(50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await pause();
    return now === 0.05 ? now : undefined;
  }, 15_000);
  t.equal(settled, 0.05);
  await eventually(async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status.batteryPercent === 50);
  t.pass('the status caught up');
});

t.test('over MQTT: a QoS 1 heartbeat is acknowledged once stored', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: 21 })), { qos: 1 });
  const stored = await hub.features.devices.models.Device.findById(device.id).lean();
  t.equal(stored?.status?.batteryPercent, 21, 'stored when the PUBACK arrived');
});

t.test('over MQTT: a heartbeat still waiting when its device disconnects does not call it online again', async (t) => {
  // Heartbeats wait 2 s for company here, so the disconnect below lands while this one waits, however slow the machine.
  const hub = await startTestHub(t, { env: { HEARTBEAT_BATCH_MS: '2000', HEARTBEAT_MAX_PAUSE_MS: '2000' } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device, { reconnectPeriod: 0 });
  const { Device } = hub.features.devices.models;
  await eventually(async () => (await Device.findById(device.id).lean())?.status?.online === true);
  // The heartbeat reaches the hub's queue, then the connection drops.
  const received = async () => /^medhub_mqtt_messages_total\{direction="in",kind="heartbeat"\} 1$/m.test(await (await fetch(`${hub.urls.http}/metrics`)).text());
  client.publish(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: 33 })), { qos: 0 });
  await eventually(received, 2000);
  client.stream.destroy();
  await eventually(async () => (await Device.findById(device.id).lean())?.status?.online === false);
  await new Promise((resolve) => setTimeout(resolve, 2300));
  const stored = await Device.findById(device.id).lean();
  t.equal(stored?.status?.online, false, 'still offline after the queue’s pause');
  t.not(stored?.status?.batteryPercent, 33, 'the dropped heartbeat was not written');
});

t.test('a heartbeat that arrived before its device went offline is not written after it', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const { ingest, presence, models } = hub.features.devices;
  await presence.online(device.id);
  // The services the MQTT route and the silence sweep call: the heartbeat waits in the queue while presence moves on.
  const written = ingest.heartbeat(device.id, heartbeat({ at: clock.now().toISOString(), batteryPercent: 44 }) as never);
  clock.advance(1000);
  await presence.offline(device.id, 'silent');
  await written;
  const stored = await models.Device.findById(device.id).lean();
  t.equal(stored?.status?.online, false, 'offline stays');
  t.not(stored?.status?.batteryPercent, 44);
});

t.test('with HEARTBEAT_HISTORY_SECONDS=0 every heartbeat of a burst is kept', async (t) => {
  const hub = await startTestHub(t, { env: { HEARTBEAT_HISTORY_SECONDS: '0' } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  for (let battery = 95; battery >= 91; battery--) client.publish(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: battery })), { qos: 0 });
  const history = await eventually(async () => {
    const items = (await request(hub, 'GET', `/api/v1/devices/${device.id}/heartbeats`, { token: s.clinician.token })).body.items as Array<{ batteryPercent: number }>;
    return items.length === 5 ? items : undefined;
  });
  t.same(history.map((h) => h.batteryPercent).sort(), [91, 92, 93, 94, 95]);
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status.batteryPercent, 91, 'and the live status is the latest');
});
