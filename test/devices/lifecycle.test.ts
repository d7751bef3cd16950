import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import t from 'tap';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { startTestHub, storeCommandsDuring } from '../helpers/hub.js';
import { careScenario } from '../helpers/factories.js';
import { connectDevice, doseTaken, eventually, heartbeat, inbox, nextMessage, provisionDevice, topic } from '../helpers/devices.js';
import { ManualClock } from '../../src/ports/clock.js';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';

const window = { earlyMinutes: 15, lateAfterMinutes: 30, missedAfterMinutes: 60 };

t.test('presence: online on connect, offline on a lost connection and on silence', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 60 });
  const watcher = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });

  const online = nextEventWhere<Record<string, unknown>>(watcher, 'device:status', (u) => u.online === true);
  const client = await connectDevice(t, hub, device, { will: { topic: topic(device.id, 'status'), payload: Buffer.from(JSON.stringify({ state: 'offline', connectionId: 'conn-0001', reason: 'connection_lost' })), qos: 1, retain: true } });
  t.match(await online, { deviceId: device.id, online: true });

  const lost = nextEventWhere<Record<string, unknown>>(watcher, 'device:status', (u) => u.online === false);
  client.stream.destroy();
  t.match(await lost, { online: false, reason: 'disconnected' }, 'a dropped connection is noticed at once');

  const again = await connectDevice(t, hub, device);
  await eventually(async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status.online === true);
  await again.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat()), { qos: 0 });
  await eventually(async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}/heartbeats`, { token: s.clinician.token })).body.items.length > 0);

  // A second device with a longer timeout, heard from at the same time, stays online meanwhile.
  const slower = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 120 });
  await connectDevice(t, hub, slower);
  const onlineNow = async (id: string) => (await request(hub, 'GET', `/api/v1/devices/${id}`, { token: s.clinician.token })).body.status.online === true;
  await eventually(() => onlineNow(slower.id));
  t.equal(await hub.features.devices.presence.sweepSilent(), 0, 'a device heard from recently stays online');
  clock.advance(61_000);
  const silent = nextEventWhere<Record<string, unknown>>(watcher, 'device:status', (u) => u.online === false);
  t.equal(await hub.features.devices.presence.sweepSilent(), 1, 'silence beyond the timeout marks it offline');
  t.ok(await onlineNow(slower.id), 'the device whose timeout is longer stays online');
  clock.advance(60_000);
  t.equal(await hub.features.devices.presence.sweepSilent(), 1, 'until its own timeout has passed too');
  t.notOk(await onlineNow(slower.id));
  t.match(await silent, { online: false, reason: 'silent' });
  t.equal(await hub.features.devices.presence.sweepSilent(), 0, 'running the sweep twice changes nothing');
});

t.test('the retained schedule reaches a device that connects later; it reports the version it applied', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const dueAt = new Date(Date.now() + 3_600_000).toISOString();
  const body = { timezone: 'Europe/Paris', items: [{ slot: 1, pills: 1, dueAt, window }] };

  const first = await request(hub, 'PUT', `/api/v1/devices/${device.id}/schedule`, { token: s.clinician.token, body });
  t.equal(first.status, 200);
  t.equal(first.body.version, 1);
  const second = await request(hub, 'PUT', `/api/v1/devices/${device.id}/schedule`, { token: s.clinician.token, body });
  t.equal(second.body.version, 2, 'versions only grow');
  t.equal((await request(hub, 'PUT', `/api/v1/devices/${device.id}/schedule`, { token: s.caregiver.token, body })).status, 403);
  const bad = await request(hub, 'PUT', `/api/v1/devices/${device.id}/schedule`, { token: s.clinician.token, body: { ...body, items: [{ slot: 1, pills: 1, dueAt, window: { ...window, lateAfterMinutes: 90 } }] } });
  t.equal(bad.status, 400, 'late after missed is refused');

  const client = await connectDevice(t, hub, device);
  const retained = await nextMessage(client, topic(device.id, 'schedule'));
  t.equal(retained.retain, true);
  t.match(retained.payload, { version: 2, timezone: 'Europe/Paris', items: [{ slot: 1, dueAt }] });

  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ appliedScheduleVersion: 2 })), { qos: 0 });
  const state = await eventually(async () => {
    const response = await request(hub, 'GET', `/api/v1/devices/${device.id}/schedule`, { token: s.caregiver.token });
    return response.body.reportedVersion === 2 && response.body;
  });
  t.equal(state.desired.version, 2, 'desired and reported agree');

  const basic = `Basic ${Buffer.from(`${device.id}:${device.secret}`).toString('base64')}`;
  const polled = await request(hub, 'GET', `/api/v1/devices/${device.id}/schedule`, { headers: { authorization: basic } });
  t.equal(polled.body.version, 2, 'a device polling over HTTP gets the same schedule');
});

t.test('schedules published at the same time: the stored and the retained schedule are the newest version', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const item = (hour: number) => ({ slot: 1, pills: 1, dueAt: new Date(Date.UTC(2030, 0, 1, hour)).toISOString(), window });
  // Twelve writers at once, each with its own content (its dose's hour).
  const published = await Promise.all(Array.from({ length: 12 }, (_, hour) => hub.features.devices.schedules.publish({ _id: device.id }, { timezone: 'UTC', items: [item(hour)] })));
  const versions = published.map((p) => p.version as number);
  t.same([...versions].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1), 'each writer got its own version');
  const stored = (await hub.features.devices.models.Device.findById(device.id).lean())?.schedule;
  const newest = published.find((p) => p.version === 12);
  t.equal(stored?.version, 12);
  t.same((stored?.payload as { items: unknown }).items, newest?.items, 'the stored schedule is the newest version’s');
  const client = await connectDevice(t, hub, device);
  const retained = await nextMessage(client, topic(device.id, 'schedule'));
  t.equal(retained.payload.version, 12, 'and so is the retained one a device gets when it connects');
  t.same(retained.payload.items, newest?.items);
});

t.test('commands: delivered after reconnect, acked, expired when stale', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });

  // Connect once to create the persistent session and its subscription, then go away.
  const first = await connectDevice(t, hub, device);
  await first.subscribeAsync(topic(device.id, 'commands'), { qos: 1 });
  await first.endAsync();

  const ring = await request(hub, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body: { type: 'ring', params: { durationSeconds: 10 }, ttlSeconds: 600 } });
  t.equal(ring.status, 201, JSON.stringify(ring.body));
  t.match(ring.body, { commandId: String, type: 'ring', status: 'pending' });

  const watcher = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(watcher, 'connect');
  const completed = nextEvent<Record<string, unknown>>(watcher, 'device:command');
  const back = await connectDevice(t, hub, device);
  const commands = await inbox(back, topic(device.id, 'commands'));
  const delivered = await commands();
  t.match(delivered.payload, { commandId: ring.body.commandId, type: 'ring' }, 'a command sent while offline arrives on reconnect');
  await back.publishAsync(topic(device.id, 'acks'), JSON.stringify({ commandId: ring.body.commandId, status: 'succeeded', at: new Date().toISOString() }), { qos: 1 });
  const done = await eventually(async () => {
    const response = await request(hub, 'GET', `/api/v1/devices/${device.id}/commands/${ring.body.commandId as string}`, { token: s.caregiver.token });
    return response.body.status === 'succeeded' && response.body;
  });
  t.ok(done.completedAt);
  t.match(await completed, { commandId: ring.body.commandId, status: 'succeeded' }, 'the care team sees the command complete');

  const errors = await inbox(back, topic(device.id, 'errors'));
  await back.publishAsync(topic(device.id, 'acks'), JSON.stringify({ commandId: 'never-sent-0001', status: 'succeeded', at: new Date().toISOString() }), { qos: 1 });
  t.match((await errors()).payload, { code: 'unknown_command', ref: { commandId: 'never-sent-0001' } });

  const stale = await request(hub, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body: { type: 'locate', params: { durationSeconds: 5 }, ttlSeconds: 30 } });
  t.equal(stale.status, 201, JSON.stringify(stale.body));
  clock.advance(31_000);
  t.equal(await hub.features.devices.commands.expireStale(), 1);
  const expired = await request(hub, 'GET', `/api/v1/devices/${device.id}/commands/${stale.body.commandId as string}`, { token: s.clinician.token });
  t.equal(expired.body.status, 'expired', 'an unanswered command past its expiry is expired');
});

t.test('devices reconnecting together each get their own pending commands', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => provisionDevice(hub, s.clinician, { patientId: s.patient.id })));
  const send = async (deviceId: string, type: string, params: Record<string, unknown>) => {
    const sent = await request(hub, 'POST', `/api/v1/devices/${deviceId}/commands`, { token: s.clinician.token, body: { type, params, ttlSeconds: 600 } });
    t.equal(sent.status, 201, `${type}: ${JSON.stringify(sent.body)}`);
  };
  await send(a!.id, 'ring', { durationSeconds: 10 });
  await send(a!.id, 'locate', { durationSeconds: 30 });
  await send(b!.id, 'sync_time', { serverTime: new Date().toISOString() });
  // The service each reconnect calls, for three devices in the same turn: one find for all of them, answered per device.
  const { commands } = hub.features.devices;
  const sent = await storeCommandsDuring(hub, async () => t.same(await Promise.all([a!.id, b!.id, c!.id].map((id) => commands.resendPending(id))), [2, 1, 0]));
  t.equal(sent.filter(({ command }) => command === 'find').length, 1);
});

// On either thread: a store on a worker thread closes its sockets from another event loop, which
// is when the driver met a connection destroyed but not yet closed (test/store/driver-closed-socket.test.ts).
for (const thread of ['main', 'worker'] as const) {
  t.test(`while the store (${thread} thread) is down nothing is acknowledged; the event is stored once it is back`, { skip: process.env.MONGO_URL ? 'stops the embedded store' : false }, async (t) => {
    const hub = await startTestHub(t, { persistentStore: true, env: { EMBEDDED_STORE_THREAD: thread } });
    const s = await careScenario(hub);
    const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
    const client = await connectDevice(t, hub, device);
    const embedded = hub.context.store.embedded;
    if (!embedded) throw new Error('expected the embedded store');
    const port = embedded.port;
    await embedded.close();

    const event = doseTaken();
    let acked = false;
    const publish = client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 }).then(() => (acked = true));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    t.notOk(acked, 'no PUBACK while the event cannot be stored');

    const dataDir = resolve(join(hub.context.config.dataDir, 'store'));
    const restarted = await startEmbeddedStore({ port, host: '127.0.0.1', dataDir });
    await publish;
    t.ok(acked, 'acknowledged once stored');
    const stored = await hub.features.devices.models.DeviceEvent.countDocuments({ eventId: event.eventId });
    t.equal(stored, 1, 'stored exactly once');
    await client.endAsync();
    await hub.close();
    await restarted.close();
  });
}

t.test('heartbeat history: one kept per interval (and on new firmware or schedule), live status from every one', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock, env: { HEARTBEAT_HISTORY_SECONDS: '300' } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const statusOf = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status;
  const history = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}/heartbeats`, { token: s.clinician.token })).body.items as Array<{ batteryPercent: number; firmwareVersion: string }>;
  // Each heartbeat is awaited until the live status shows it and the history holds `kept` records
  // (the status update and the history insert of one batch are separate writes).
  const beat = async (overrides: Record<string, unknown>, kept: number) => {
    await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat(overrides)), { qos: 0 });
    await eventually(async () => (await statusOf()).batteryPercent === overrides.batteryPercent && (await history()).length === kept);
  };

  await beat({ batteryPercent: 90 }, 1);
  clock.advance(60_000);
  await beat({ batteryPercent: 89 }, 1);
  clock.advance(60_000);
  await beat({ batteryPercent: 88 }, 1);
  t.same((await history()).map((h) => h.batteryPercent), [90], 'the first heartbeat is kept, the next ones within the interval (5 minutes here) are not');
  t.match(await statusOf(), { batteryPercent: 88 }, 'the live status follows every heartbeat');

  clock.advance(60_000);
  // After an update the device announces its new firmware in its `online` status first.
  await client.publishAsync(topic(device.id, 'status'), JSON.stringify({ state: 'online', connectionId: 'conn-0002', at: clock.now().toISOString(), firmwareVersion: '1.5.0' }), { qos: 1 });
  await eventually(async () => (await statusOf()).firmwareVersion === '1.5.0');
  await beat({ batteryPercent: 87, firmwareVersion: '1.5.0' }, 2);
  clock.advance(60_000);
  await beat({ batteryPercent: 86, firmwareVersion: '1.5.0', appliedScheduleVersion: 3 }, 3);
  clock.advance(300_000);
  await beat({ batteryPercent: 85, firmwareVersion: '1.5.0', appliedScheduleVersion: 3 }, 4);
  clock.advance(60_000);
  await beat({ batteryPercent: 84, firmwareVersion: '1.5.0', appliedScheduleVersion: 3 }, 4);
  t.same(
    (await history()).map((h) => h.batteryPercent),
    [85, 86, 87, 90],
    'new firmware and a new schedule version are kept at once; then one per interval again (newest first)',
  );
  clock.advance(-120_000); // the hub's clock steps back (an NTP correction)
  await beat({ batteryPercent: 83, firmwareVersion: '1.5.0', appliedScheduleVersion: 3 }, 5);
  t.pass('a heartbeat after the clock stepped back is kept, not held back until the clock catches up');
});

t.test('a heartbeat whose history record could not be stored is not named as the last kept', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock, env: { HEARTBEAT_HISTORY_SECONDS: '300' } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const { ingest, models } = hub.features.devices;
  const history = async () => (await models.Heartbeat.find({ deviceId: device.id }).sort({ at: 1 }).lean()).map((h) => h.batteryPercent);
  const lastKept = async () => (await models.Device.findById(device.id).lean())?.status?.lastKept;
  // The service the MQTT route calls, so that the test can await each heartbeat's outcome.
  const beat = (overrides: Record<string, unknown>) => ingest.heartbeat(device.id, heartbeat({ at: clock.now().toISOString(), ...overrides }) as never);

  await beat({ batteryPercent: 90 });
  const first = await lastKept();
  t.ok(first, 'the first heartbeat is kept and named');
  // The next history insert fails: one record per device, says a unique index made for the test.
  await models.Heartbeat.collection.createIndex({ deviceId: 1 }, { unique: true, name: 'one_per_device_for_this_test' });
  t.teardown(() => models.Heartbeat.collection.dropIndex('one_per_device_for_this_test').catch(() => undefined));
  clock.advance(301_000);
  await t.rejects(beat({ batteryPercent: 80 }), { code: 11000 }, 'a heartbeat due for the history, which refuses it, fails');
  t.same(await history(), [90]);
  t.same(await lastKept(), first, 'and the device still names the last record that was kept');

  await models.Heartbeat.collection.dropIndex('one_per_device_for_this_test');
  clock.advance(60_000);
  await beat({ batteryPercent: 79 });
  t.same(await history(), [90, 79], 'so the next heartbeat is kept, not left out until another interval has passed');
});

t.test('events mark their device as seen, at most one store update per device every 5 seconds', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const lastSeen = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status.lastSeenAt as string;
  const connectedAt = clock.now().toISOString();
  await eventually(async () => (await lastSeen()) === connectedAt);
  const send = () => client.publishAsync(topic(device.id, 'events'), JSON.stringify({ eventId: randomUUID(), type: 'refill.low', at: clock.now().toISOString(), slot: 1, pills: 2, threshold: 3 }), { qos: 1 });

  clock.advance(60_000);
  await send();
  t.equal(await lastSeen(), clock.now().toISOString(), 'an event a minute later moves lastSeenAt');
  const firstEventAt = clock.now().toISOString();
  clock.advance(2_000);
  await send();
  t.equal(await lastSeen(), firstEventAt, 'one 2 s later does not write it again');
  clock.advance(4_000);
  await send();
  t.equal(await lastSeen(), clock.now().toISOString(), 'one 6 s after the last write does');
});
