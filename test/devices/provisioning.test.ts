import { createConnection } from 'node:net';
import { MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { connected, MQTT_TEST_OPTIONS, request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { careScenario } from '../helpers/factories.js';
import { connectDevice, eventually, provisionDevice } from '../helpers/devices.js';

// One hub and care scenario for the file: each test provisions devices of its own (the tests run
// one after another).
let hub: Hub;
let s: Awaited<ReturnType<typeof careScenario>>;
t.before(async () => {
  hub = await startTestHub(t);
  s = await careScenario(hub);
});

t.test('provisioning, visibility, rotation and disabling', async (t) => {
  const device = await provisionDevice(hub, s.clinician, { serial: 'SN-0001', name: 'Kitchen', patientId: s.patient.id });
  t.match(device, { id: /^dev_/, secret: String, mqtt: { port: hub.mqttPort, wsPath: '/mqtt', username: device.id } });
  t.equal(device.mqtt.topics.events, `v1/devices/${device.id}/events`);
  t.ok(device.secret.length >= 40, 'a long random secret');

  const again = await request(hub, 'POST', '/api/v1/devices', { token: s.clinician.token, body: { serial: 'SN-0001' } });
  t.equal(again.status, 409, 'a serial is provisioned once');
  t.equal((await request(hub, 'POST', '/api/v1/devices', { token: s.caregiver.token, body: { serial: 'SN-X' } })).status, 403, 'caregivers do not provision');
  t.equal((await request(hub, 'POST', '/api/v1/devices', { token: s.clinician.token, body: { serial: 'SN-Y', secret: 'mine' } })).status, 400, 'no caller-chosen fields');

  const seen = await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.caregiver.token });
  t.equal(seen.status, 200, 'the care team sees its patient’s device');
  t.notOk('secret' in seen.body || 'secretHash' in seen.body, 'the secret is shown once, never again');
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.outsider.token })).status, 404);
  t.equal((await request(hub, 'PATCH', `/api/v1/devices/${device.id}`, { token: s.caregiver.token, body: { name: 'x' } })).status, 403);
  const list = await request(hub, 'GET', '/api/v1/devices', { token: s.outsider.token });
  t.equal(list.body.items.length, 0, 'lists are scoped too');

  const connected = await connectDevice(t, hub, device);
  const dropped = new Promise<void>((resolve) => connected.once('close', () => resolve()));
  const rotated = await request(hub, 'POST', `/api/v1/devices/${device.id}/rotate-secret`, { token: s.clinician.token });
  t.equal(rotated.status, 200);
  await dropped;
  t.pass('rotating the secret ends the session that used the old one');
  await t.rejects(connectDevice(t, hub, device), { code: 4 }, 'the old secret no longer works');
  const renewed = await connectDevice(t, hub, { id: device.id, secret: rotated.body.secret as string });
  t.ok(renewed.connected, 'the new one does');

  const statusOf = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status as { online: boolean; reason: string | null };
  await eventually(async () => (await statusOf()).online);
  const gone = new Promise<void>((resolve) => renewed.once('close', () => resolve()));
  const disabled = await request(hub, 'PATCH', `/api/v1/devices/${device.id}`, { token: s.admin.token, body: { disabled: true } });
  t.equal(disabled.body.disabled, true);
  t.match(disabled.body.status, { online: false, reason: 'disabled' }, 'offline because it was disabled');
  await gone;
  t.pass('disabling disconnects at once');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.match(await statusOf(), { online: false, reason: 'disabled' }, 'its session’s end does not say otherwise');
  const active = await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}&status=active`, { token: s.clinician.token });
  t.notOk((active.body.items as Array<{ type: string }>).some((alert) => alert.type === 'device.offline'), 'no device.offline for a device staff disabled');
  await t.rejects(connectDevice(t, hub, { id: device.id, secret: rotated.body.secret as string }), { code: 4 }, 'and keeps it out');
});

t.test('failed device logins are throttled, from the address that failed: the dispenser itself, elsewhere, still gets in', async (t) => {
  const device = await provisionDevice(hub, s.clinician);
  for (let i = 0; i < 10; i++) await t.rejects(connectDevice(t, hub, { id: device.id, secret: `wrong-${i}` }), { code: 4 });
  await t.rejects(connectDevice(t, hub, device), { code: 3 }, 'that address is blocked for a while even with the right secret (server unavailable)');
  // Device ids are no secret: whoever knows one must not keep the patient's dispenser out.
  const elsewhere = await connectFrom(t, hub, '127.0.0.2', device);
  t.ok(elsewhere.connected, 'the dispenser, from its own address, connects');
});

/** A device's MQTT connection from another local address (Linux routes all of 127.0.0.0/8 to loopback). */
function connectFrom(t: Test, target: Hub, localAddress: string, device: { id: string; secret: string }): Promise<MqttClient> {
  const { hostname, port } = new URL(target.urls.mqtt);
  const stream = () => createConnection({ host: hostname, port: Number(port), localAddress });
  return connected(t, new MqttClient(stream, { ...MQTT_TEST_OPTIONS, clientId: device.id, username: device.id, password: device.secret, clean: false }));
}
