/**
 * Devices and hub instances: what a dispenser gets must not depend on which instance it is
 * connected to, nor on whether that instance restarted — and a schedule it did not apply is sent again. Two hubs share a store and a Redis
 * (startHubPair), so their embedded brokers are clustered through it (transports/mqtt/cluster.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { MqttClient } from 'mqtt';
import type { Redis } from 'ioredis';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, request } from '../helpers/clients.js';
import { connectDevice, eventually, heartbeat, inbox, nextMessage, provisionDevice, topic, type ProvisionedDevice } from '../helpers/devices.js';
import { careScenario, currentToken, type Login } from '../helpers/factories.js';
import { startHubPair, startTestHub, withDatabase } from '../helpers/hub.js';

const window = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 60 };

/** Sets a device's schedule over REST on `hub`: one dose in an hour, in `slot`. Answers its version. */
async function putSchedule(hub: Hub, staff: Login, deviceId: string, slot: number): Promise<number> {
  const dueAt = new Date(Date.now() + 3_600_000).toISOString();
  const response = await request(hub, 'PUT', `/api/v1/devices/${deviceId}/schedule`, { token: staff.token, body: { timezone: 'UTC', items: [{ slot, pills: 1, dueAt, window }] } });
  if (response.status !== 200) throw new Error(`schedule: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.version as number;
}

const onlineOn = (hub: Hub, deviceId: string) => async () => (await hub.features.devices.models.Device.findById(deviceId).lean())?.status?.online === true;

/** Connects the device to `hub` and waits for its CONNACK (connectDevice) and its retained schedule, if any. */
async function scheduleOnConnect(t: Test, hub: Hub, device: ProvisionedDevice): Promise<{ client: MqttClient; version: number }> {
  const client = await connectDevice(t, hub, device);
  const retained = await nextMessage(client, topic(device.id, 'schedule'));
  t.equal(retained.retain, true, 'delivered as the retained message');
  return { client, version: retained.payload.version as number };
}

t.test('a restarted hub gives a reconnecting dispenser the schedule changed while it was away', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-instances-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, JWT_SECRET: `restart-${randomUUID()}`, ...(process.env.MONGO_URL ? { MONGO_URL: withDatabase(process.env.MONGO_URL, `medhub_instances_${randomUUID().slice(0, 8)}`) } : {}) };
  const before = await startTestHub(t, { persistentStore: true, env });
  const s = await careScenario(before);
  const device = await provisionDevice(before, s.clinician, { patientId: s.patient.id });
  t.equal(await putSchedule(before, s.clinician, device.id, 1), 1);
  // The dispenser is away when its schedule changes, and the hub restarts before it is back.
  t.equal(await putSchedule(before, s.clinician, device.id, 2), 2);
  await before.close();

  const hub = await startTestHub(t, { persistentStore: true, env });
  const { client, version } = await scheduleOnConnect(t, hub, device);
  t.equal(version, 2, 'the newest stored schedule, although this broker never published it');
  client.end(true);

  // Published again by this instance: what it retains follows, and the store is read no more.
  t.equal(await putSchedule(hub, s.clinician, device.id, 3), 3);
  const again = await scheduleOnConnect(t, hub, device);
  t.equal(again.version, 3);
});

t.test('two instances: a dispenser on one gets what the other publishes, live and when it connects', async (t) => {
  const { a, b } = await startHubPair(t);
  const s = await careScenario(a);
  const device = await provisionDevice(a, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, a, device);
  const schedules = await inbox(client, topic(device.id, 'schedule'));
  const commands = await inbox(client, topic(device.id, 'commands'));
  await eventually(onlineOn(a, device.id));

  t.equal(await putSchedule(b, s.clinician, device.id, 1), 1, 'schedule set on hub B');
  const live = await schedules();
  t.equal(live.payload.version, 1, 'the dispenser, connected to hub A, receives it at once');

  const issued = await request(b, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body: { type: 'ring', params: { durationSeconds: 5 }, ttlSeconds: 60 } });
  t.equal(issued.status, 201, JSON.stringify(issued.body));
  const command = await commands();
  t.equal(command.payload.commandId, issued.body.commandId, 'a command issued on hub B reaches it on hub A');

  // One retained message for both brokers: hub A gives what hub B published.
  client.end(true);
  await eventually(async () => !a.context.mqtt.isConnected(device.id));
  t.ok(await a.context.mqtt.retained(topic(device.id, 'schedule')), 'hub A’s broker retains hub B’s schedule');
  const onA = await scheduleOnConnect(t, a, device);
  t.equal(onA.version, 1);
  onA.client.end(true);
  await eventually(async () => !a.context.mqtt.isConnected(device.id));

  t.equal(await putSchedule(a, s.clinician, device.id, 2), 2, 'schedule changed on hub A while the dispenser is away');
  const onB = await scheduleOnConnect(t, b, device);
  t.equal(onB.version, 2, 'connecting to hub B, it gets the version hub A published');
});

t.test('two instances: a dispenser that moves from one to the other stays online', async (t) => {
  const { a, b } = await startHubPair(t);
  const s = await careScenario(a);
  const device = await provisionDevice(a, s.clinician, { patientId: s.patient.id });
  const first = await connectDevice(t, a, device, { reconnectPeriod: 0 });
  await eventually(onlineOn(a, device.id));
  // The clinician's app, on hub B, sees every status the hubs announce.
  const app = connectSocket(t, b, { auth: { token: await currentToken(b, s.clinician) } });
  await nextEvent(app, 'connect');
  const statuses: boolean[] = [];
  app.on('device:status', (status: { deviceId: string; online: boolean }) => {
    if (status.deviceId === device.id) statuses.push(status.online);
  });
  const firstClosed = nextEvent(first, 'close', 10_000);

  // The same client id on hub B (a load balancer sent the reconnection there): hub A's session ends.
  const second = await connectDevice(t, b, device);
  await firstClosed;
  t.pass('hub A closed the older session');
  await eventually(async () => !a.context.mqtt.isConnected(device.id));
  t.equal(b.context.mqtt.isConnected(device.id), true);
  // Give a wrong "offline" from hub A the time to land, then check it did not.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const stored = await a.features.devices.models.Device.findById(device.id).lean();
  t.equal(stored?.status?.online, true, 'still online: hub B has its session');
  t.notOk(statuses.includes(false), 'and never said offline on the way: hub A does not announce the end of a session that moved');

  second.end(true);
  await eventually(async () => statuses.at(-1) === false);
  t.pass('offline once its session on hub B ends');
});

/** Hub `hub`'s bus connection that receives (Aedes's `mq` is the cluster's bus, cluster.ts). */
const busSubscriberOf = (hub: Hub): Redis => (hub.context.mqtt.broker as unknown as { mq: { subConn: Redis } }).mq.subConn;

t.test('two instances: a dispenser moving while the old instance’s bus is away still ends its old session there', async (t) => {
  const { a, b } = await startHubPair(t);
  const s = await careScenario(a);
  const device = await provisionDevice(a, s.clinician, { patientId: s.patient.id });
  const first = await connectDevice(t, a, device, { reconnectPeriod: 0 });
  await eventually(onlineOn(a, device.id));
  const firstClosed = nextEvent(first, 'close', 10_000);

  // Hub A's bus is away while hub B announces the device's new session: A never hears of it (Redis pub/sub keeps nothing).
  const subscriber = busSubscriberOf(a);
  subscriber.disconnect();
  await eventually(async () => subscriber.status === 'end');
  await connectDevice(t, b, device);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(a.context.mqtt.isConnected(device.id), true, 'hub A missed the notice: it still holds the old session');

  await subscriber.connect();
  await firstClosed;
  t.pass('once its bus is back, hub A ends the session recorded as hub B’s');
  t.equal(a.context.mqtt.isConnected(device.id), false);
  t.equal(b.context.mqtt.isConnected(device.id), true);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal((await a.features.devices.models.Device.findById(device.id).lean())?.status?.online, true, 'and the device stays online: the session moved');
});

t.test('two instances: a dispenser subscribing to all its topics in one packet gets its SUBACK, and each topic’s messages', async (t) => {
  const { a, b } = await startHubPair(t);
  const s = await careScenario(a);
  const device = await provisionDevice(a, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, a, device);
  const topics = ['schedule', 'commands', 'errors'].map((name) => topic(device.id, name));
  const granted = await Promise.race([client.subscribeAsync(topics, { qos: 1 }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no SUBACK in 5 s')), 5000))]);
  t.same(granted.map((grant) => grant.qos), [1, 1, 1], 'one SUBACK granting the three');
  const schedules = await inbox(client, topic(device.id, 'schedule'));
  const version = await putSchedule(b, s.clinician, device.id, 1);
  t.equal((await schedules()).payload.version, version, 'a schedule set on hub B reaches it');
});

for (const clustered of [false, true]) {
  t.test(`${clustered ? 'two instances' : 'one instance'}: a topic refused in a SUBSCRIBE is not kept in the session; a device never gets another’s commands`, async (t) => {
    const hub = clustered ? (await startHubPair(t)).a : await startTestHub(t);
    const s = await careScenario(hub);
    const mine = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
    const other = await provisionDevice(hub, s.clinician);
    const client = await connectDevice(t, hub, mine, { reconnectPeriod: 0 });
    // MQTT.js reports a topic refused in the SUBACK (0x80) as an error of the whole SUBSCRIBE.
    const refused = await new Promise<Error | undefined>((resolve) => client.subscribe([topic(mine.id, 'commands'), topic(other.id, 'commands')], { qos: 1 }, (error) => resolve(error ?? undefined)));
    t.ok(refused, 'the other device’s topic is refused');
    client.end(true);
    await eventually(async () => !hub.context.mqtt.isConnected(mine.id));
    const ring = { type: 'ring', params: { durationSeconds: 5 }, ttlSeconds: 60 };
    t.equal((await request(hub, 'POST', `/api/v1/devices/${other.id}/commands`, { token: s.clinician.token, body: ring })).status, 201);

    const back = await connectDevice(t, hub, mine, { reconnectPeriod: 0 });
    const received: string[] = [];
    back.on('message', (name) => received.push(name));
    t.equal((await request(hub, 'POST', `/api/v1/devices/${mine.id}/commands`, { token: s.clinician.token, body: ring })).status, 201);
    await eventually(async () => received.includes(topic(mine.id, 'commands')));
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.same(received.filter((name) => name.includes(other.id)), [], 'its own command arrives, none of the other device’s');
  });
}

t.test('a dispenser that keeps reporting an older schedule than the stored one is sent it again, not at every heartbeat', async (t) => {
  const clock = new ManualClock('2026-06-10T06:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const schedules = await inbox(client, topic(device.id, 'schedule'));
  const body = { timezone: 'UTC', items: [{ slot: 1, pills: 1, dueAt: '2026-06-10T08:00:00Z', window }] };
  t.equal((await request(hub, 'PUT', `/api/v1/devices/${device.id}/schedule`, { token: s.clinician.token, body })).status, 200);
  t.equal((await schedules()).payload.version, 1, 'published once');

  let uptimeSeconds = 0;
  /** A heartbeat reporting `applied`, once the hub has stored it (and acted on it). */
  const report = async (applied: number): Promise<void> => {
    uptimeSeconds += 60;
    await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ at: clock.now().toISOString(), appliedScheduleVersion: applied, uptimeSeconds })), { qos: 0 });
    await eventually(async () => (await hub.features.devices.models.Device.findById(device.id).lean())?.status?.uptimeSeconds === uptimeSeconds);
  };
  const nothingMore = async (why: string): Promise<void> => {
    await t.rejects(schedules(400), /no message/, why);
  };

  await report(0);
  await nothingMore('within its first minutes, a device that has not applied it yet is left alone');
  clock.advance(3 * 60_000);
  await report(0);
  const again = await schedules();
  t.equal(again.payload.version, 1, 'three minutes on, still reporting version 0: the stored schedule is sent again');
  clock.advance(60_000);
  await report(0);
  await nothingMore('not again at the next heartbeat');
  clock.advance(10 * 60_000);
  await report(0);
  t.equal((await schedules()).payload.version, 1, 'but again ten minutes later');
  await report(1);
  clock.advance(20 * 60_000);
  await report(1);
  await nothingMore('once it reports the stored version, nothing more');
});
