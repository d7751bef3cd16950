import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { careScenario } from '../helpers/factories.js';
import { connectDevice, doseTaken, eventually, heartbeat, inbox, provisionDevice, topic } from '../helpers/devices.js';

const run = promisify(execFile);

// One hub and care scenario for the file: each test provisions a device of its own and asserts
// on that device only (the tests run one after another).
let hub: Hub;
let s: Awaited<ReturnType<typeof careScenario>>;
t.before(async () => {
  hub = await startTestHub(t);
  s = await careScenario(hub);
});

t.test('events and heartbeats: validated, stored once, fanned out to the care team', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(caregiver, 'connect');
  await caregiver.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);

  const status = nextEventWhere<Record<string, unknown>>(caregiver, 'device:status', (update) => update.batteryPercent === 42);
  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: 42 })), { qos: 0 });
  t.match(await status, { deviceId: device.id, patientId: s.patient.id, online: true, batteryPercent: 42 }, 'caregiver sees live status');

  const event = doseTaken();
  const live = nextEvent<Record<string, unknown>>(caregiver, 'dose:event');
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  t.match(await live, { deviceId: device.id, eventId: event.eventId, type: 'dose.taken' }, 'caregiver sees the dose event');
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });

  const events = await request(hub, 'GET', `/api/v1/devices/${device.id}/events`, { token: s.caregiver.token });
  t.equal(events.body.items.length, 1, 'a resent event is stored once');
  t.match(events.body.items[0], { eventId: event.eventId, type: 'dose.taken', via: 'mqtt' });
  const view = await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.caregiver.token });
  t.match(view.body.status, { online: true, batteryPercent: 42, rssiDbm: -61, firmwareVersion: '1.4.2' });
  const beats = await request(hub, 'GET', `/api/v1/devices/${device.id}/heartbeats`, { token: s.caregiver.token });
  t.equal(beats.body.items.length, 1);
});

t.test('bad payloads get an errors reply, the connection stays, nothing is stored', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const errors = await inbox(client, topic(device.id, 'errors'));

  await client.publishAsync(topic(device.id, 'events'), '{"eventId": ', { qos: 1 });
  t.match((await errors()).payload, { code: 'invalid_json', ref: { topic: topic(device.id, 'events') } });

  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(doseTaken({ eventId: 'evt-bad-0001', slot: 999 })), { qos: 1 });
  const reply = (await errors()).payload;
  t.match(reply, { code: 'schema_violation', ref: { eventId: 'evt-bad-0001' }, details: [{ path: '/slot' }] });
  hub.context.schemas.validate('mqtt/error', reply);
  t.pass('the errors reply itself follows schemas/mqtt/error.json');

  t.ok(client.connected, 'still connected');
  const events = await request(hub, 'GET', `/api/v1/devices/${device.id}/events`, { token: s.clinician.token });
  t.equal(events.body.items.length, 0, 'nothing stored');

  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topic(device.id, 'schedule'), '{}', { qos: 1 });
  await closed;
  t.pass('publishing on a hub → device topic disconnects');
});

t.test('every device → hub topic counts against the device’s message budget (200 a second): QoS 0 past it is dropped, QoS 1 waits', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const errors = await inbox(client, topic(device.id, 'errors'));
  for (const name of ['status', 'acks'] as const) {
    const payload =
      name === 'status'
        ? { state: 'online', connectionId: 'conn-budget-0001', at: new Date().toISOString() }
        : { commandId: '00000000-0000-4000-8000-000000000000', status: 'succeeded', at: new Date().toISOString() };
    // Over the budget within one second (QoS 0: nothing waits for the hub).
    for (let i = 0; i < 260; i++) client.publish(topic(device.id, name), JSON.stringify(payload), { qos: 0 });
    let limited = 0;
    for (;;) {
      const reply = await errors(3000).catch(() => undefined);
      if (!reply) break;
      if (reply.payload.code === 'rate_limited' && (reply.payload.ref as { topic?: string }).topic === topic(device.id, name)) limited += 1;
    }
    t.ok(limited > 0, `${name}: messages past the budget are refused as rate_limited (${limited})`);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a new second, a new budget
  }
  t.ok(client.connected, 'and the device stays connected');

  // QoS 1 messages past the budget wait for it instead: each is acknowledged once stored, none dropped.
  const started = Date.now();
  const burst = Array.from({ length: 260 }, (_, i) => doseTaken({ eventId: `evt-budget-${String(i).padStart(4, '0')}` }));
  await Promise.all(burst.map((event) => client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 })));
  t.ok(Date.now() - started >= 900, 'the burst was spread over the next second');
  const stored = await hub.features.devices.models.DeviceEvent.countDocuments({ deviceId: device.id, eventId: /^evt-budget-/ });
  t.equal(stored, 260, 'every acknowledged event is stored');
  const refused = await errors(300).catch(() => undefined);
  t.equal(refused, undefined, 'and none was refused');
});

t.test('a device whose clock is off by more than a minute is sent sync_time with the hub’s time, at most once an hour', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const commands = await inbox(client, topic(device.id, 'commands'));
  const beat = (offsetMs: number) => client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ at: new Date(Date.now() + offsetMs).toISOString() })), { qos: 1 });

  await beat(20_000);
  t.equal(await commands(500).catch(() => undefined), undefined, '20 s off: within tolerance, nothing sent');
  const before = Date.now();
  await beat(-10 * 60_000);
  const sync = (await commands()).payload;
  t.match(sync, { type: 'sync_time', params: { serverTime: String } }, '10 minutes slow: sync_time sent');
  const serverTime = Date.parse((sync.params as { serverTime: string }).serverTime);
  t.ok(serverTime >= before - 1000 && serverTime <= Date.now() + 1000, 'carrying the hub’s time');
  await beat(-10 * 60_000);
  t.equal(await commands(500).catch(() => undefined), undefined, 'still off a moment later: not sent again within the hour');
});

t.test('the same ingest from Debian’s mosquitto_pub and over HTTP', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });

  const viaCli = doseTaken();
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(hub.mqttPort), '-V', 'mqttv311', '-i', device.id, '-u', device.id, '-P', device.secret, '-q', '1', '-t', topic(device.id, 'events'), '-m', JSON.stringify(viaCli)]);
  const wrong = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(hub.mqttPort), '-V', 'mqttv311', '-i', device.id, '-u', device.id, '-P', 'nope', '-q', '1', '-t', topic(device.id, 'events'), '-m', '{}']);
  await t.rejects(wrong, 'mosquitto_pub with a wrong secret is refused');

  const basic = `Basic ${Buffer.from(`${device.id}:${device.secret}`).toString('base64')}`;
  const viaHttp = doseTaken({ type: 'dose.skipped' });
  const posted = await request(hub, 'POST', `/api/v1/devices/${device.id}/events`, { body: viaHttp, headers: { authorization: basic } });
  t.equal(posted.status, 201, JSON.stringify(posted.body));
  const repeated = await request(hub, 'POST', `/api/v1/devices/${device.id}/events`, { body: viaHttp, headers: { authorization: basic } });
  t.same(repeated.body, { stored: false, duplicate: true });
  const other = await provisionDevice(hub, s.clinician);
  const impostor = await request(hub, 'POST', `/api/v1/devices/${other.id}/events`, { body: doseTaken(), headers: { authorization: basic } });
  t.equal(impostor.status, 403, 'a device cannot post as another');
  const lowercase = `basic ${Buffer.from(`${device.id}:${device.secret}`).toString('base64')}`;
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}/schedule`, { headers: { authorization: lowercase } })).status, 204, 'the scheme is case-insensitive (RFC 7235)');
  const refused = await request(hub, 'POST', `/api/v1/devices/${device.id}/events`, { body: doseTaken(), headers: { authorization: `Basic ${Buffer.from(`${device.id}:wrong`).toString('base64')}` } });
  t.equal(refused.status, 401);
  t.equal(refused.headers.get('www-authenticate'), 'Basic realm="medhub-devices"', 'a wrong secret is challenged again');

  const events = await eventually(async () => {
    const response = await request(hub, 'GET', `/api/v1/devices/${device.id}/events`, { token: s.clinician.token });
    return response.body.items.length === 2 && (response.body.items as { eventId: string; via: string }[]);
  });
  t.same(events.map((e) => e.eventId).sort(), [viaCli.eventId, viaHttp.eventId].sort());
});
