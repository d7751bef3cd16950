/**
 * DEVICE_OFFLINE_ALERT_SECONDS: a patient's dispenser that drops and comes back within the grace
 * (a Wi-Fi blip, a router restart) raises no device.offline; one still away at its end does, once.
 * The grace is a real timer: these tests use a few seconds (enough for a reconnection on a loaded machine).
 */
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, request } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice } from '../helpers/devices.js';
import { careScenario, type Login } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';


async function offlineAlerts(hub: Hub, staff: Login, patientId: string): Promise<Array<{ type: string; status: string }>> {
  const alerts = await request(hub, 'GET', `/api/v1/alerts?patientId=${patientId}`, { token: staff.token });
  return (alerts.body.items as Array<{ type: string; status: string }>).filter((alert) => alert.type === 'device.offline');
}

async function setUp(t: Test, graceSeconds: number) {
  const hub = await startTestHub(t, { env: { DEVICE_OFFLINE_ALERT_SECONDS: String(graceSeconds) } });
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const app = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(app, 'connect');
  await app.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const raised: string[] = [];
  app.on('alert:raised', (alert: { type: string }) => raised.push(alert.type));
  const { Device } = hub.features.devices.models;
  const online = (expected: boolean) => eventually(async () => (await Device.findById(device.id).lean())?.status?.online === expected);
  return { hub, s, device, raised, online };
}

t.test('a dispenser back within the grace raises no device.offline', async (t) => {
  const { hub, s, device, raised, online } = await setUp(t, 3);
  const first = await connectDevice(t, hub, device, { reconnectPeriod: 0 });
  await online(true);
  first.stream.destroy();
  await online(false);
  const wentOffline = Date.now();
  await connectDevice(t, hub, device);
  await online(true);
  t.ok(Date.now() - wentOffline < 3000, 'back within the grace');
  // Past the end of the grace the offline began.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, wentOffline + 3500 - Date.now())));
  t.notOk(raised.includes('device.offline'), 'caregivers were not paged');
  t.same(await offlineAlerts(hub, s.clinician, s.patient.id), [], 'and none is stored');
});

t.test('a dispenser still away at the end of the grace raises device.offline then, once', async (t) => {
  const { hub, s, device, raised, online } = await setUp(t, 2);
  const client = await connectDevice(t, hub, device, { reconnectPeriod: 0 });
  await online(true);
  client.stream.destroy();
  await online(false);
  t.same(await offlineAlerts(hub, s.clinician, s.patient.id), [], 'nothing raised when it drops');
  await eventually(async () => raised.includes('device.offline'), 5000);
  t.pass('raised once the grace is over');
  t.match(await offlineAlerts(hub, s.clinician, s.patient.id), [{ type: 'device.offline', status: 'active' }], 'one alert');
  t.equal(await hub.features.alerts.deviceAlerts.reconcileOffline(), 0, 'which the reconcile job counts: it raises nothing more');

  await connectDevice(t, hub, device);
  await eventually(async () => (await offlineAlerts(hub, s.clinician, s.patient.id))[0]?.status === 'resolved');
  t.pass('resolved when it comes back');
});
