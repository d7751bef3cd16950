/**
 * A dispenser that connects again while the broker still holds its previous session (it noticed a
 * dead connection before the broker did) takes that session over: the broker closes the old one
 * and publishes its Last Will. That is not the device going away — caregivers see no offline
 * flap and get no device.offline alert — and the old connection's Will leaves no reason on the
 * device online through the new one. Its real end is reported with the reason it gave.
 */
import t, { type Test } from 'tap';
import type { MqttClient } from 'mqtt';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, request } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice, topic, type ProvisionedDevice } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

const willOf = (deviceId: string, connectionId: string) => ({
  topic: topic(deviceId, 'status'),
  payload: Buffer.from(JSON.stringify({ state: 'offline', connectionId, reason: 'connection_lost' })),
  qos: 1 as const,
  retain: true,
});

/** Connects as the firmware does: a Last Will naming this connection, then `online` with the same id. */
async function connectAnnounced(t: Test, hub: Hub, device: ProvisionedDevice, connectionId: string): Promise<MqttClient> {
  const client = await connectDevice(t, hub, device, { will: willOf(device.id, connectionId), reconnectPeriod: 0 });
  await client.publishAsync(topic(device.id, 'status'), JSON.stringify({ state: 'online', connectionId, at: new Date().toISOString() }), { qos: 1, retain: true });
  return client;
}

t.test('a session taken over by the same device is not an offline; its real end is', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const app = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(app, 'connect');
  await app.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const statuses: Array<{ online: boolean; reason: string | null }> = [];
  app.on('device:status', (status: { deviceId: string; online: boolean; reason: string | null }) => {
    if (status.deviceId === device.id) statuses.push({ online: status.online, reason: status.reason });
  });
  const raised: string[] = [];
  app.on('alert:raised', (alert: { type: string }) => raised.push(alert.type));
  const stored = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status as { online: boolean; reason: string | null };

  const first = await connectAnnounced(t, hub, device, 'conn-0001');
  await eventually(async () => (await stored()).online);
  const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));

  // The same device again, without having closed the first connection.
  const second = await connectAnnounced(t, hub, device, 'conn-0002');
  await firstClosed;
  await eventually(async () => hub.context.mqtt.isConnected(device.id));
  // Give a wrong offline (and its alert) the time to land, then check it did not.
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(await stored(), { ...(await stored()), online: true, reason: null }, 'online, with no reason left by the old connection’s Will');
  t.notOk(statuses.some((status) => !status.online), 'caregivers never saw it offline');
  t.notOk(raised.includes('device.offline'), 'and no device.offline alert');
  const alerts = await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}`, { token: s.clinician.token });
  t.notOk((alerts.body.items as Array<{ type: string }>).some((alert) => alert.type === 'device.offline'), 'none stored either');

  // Now the connection really drops: the broker publishes this connection's Will.
  second.stream.destroy();
  const gone = await eventually(async () => {
    const status = await stored();
    return !status.online && status.reason === 'connection_lost' && status;
  });
  t.match(gone, { online: false, reason: 'connection_lost' }, 'offline, with the reason its Will gave (whichever of the Will and the disconnect is written first)');
  await eventually(async () => raised.includes('device.offline'));
  t.pass('that end raises device.offline');
});

t.test('a reason announced before a clean disconnect is kept', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectAnnounced(t, hub, device, 'conn-0003');
  const stored = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status as { online: boolean; reason: string | null };
  await eventually(async () => (await stored()).online);
  await client.publishAsync(topic(device.id, 'status'), JSON.stringify({ state: 'offline', connectionId: 'conn-0003', reason: 'shutdown' }), { qos: 1, retain: true });
  await client.endAsync();
  const gone = await eventually(async () => {
    const status = await stored();
    return !status.online && status;
  });
  t.equal(gone.reason, 'shutdown', 'the broker’s "disconnected" does not overwrite it');
});
