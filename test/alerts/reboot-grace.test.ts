/**
 * A dispenser that says it is restarting (a reboot command, a firmware update) is back within a
 * minute or two: its caregivers see its status change live but are not paged for it. One still
 * offline five minutes after its reboot is marked `reboot_overdue` by the presence sweep, and then
 * raises device.offline like any dispenser that went away. A shutdown still raises at once.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { nextEventWhere, request, type AnyBody } from '../helpers/clients.js';
import { announceOffline, connectAnnounced, eventually, provisionDevice } from '../helpers/devices.js';
import { startTestHub } from '../helpers/hub.js';
import { RECONCILE_OFFLINE_AFTER_MS } from '../../src/features/alerts/device-alerts.js';
import { alertScenario, as, collect, signedInSocket } from './helpers.js';

const MINUTE = 60_000;

async function setup(t: Test, env: Record<string, string> = {}) {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock, env });
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const raised = collect<AnyBody>(caregiver, 'alert:raised');
  const statusOf = async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status as { online: boolean; reason: string | null };
  return { clock, hub, s, device, caregiver, raised, statusOf, presence: hub.features.devices.presence };
}

t.test('a reboot that is back within the grace pages nobody', async (t) => {
  const { clock, hub, device, caregiver, raised, statusOf, presence } = await setup(t);
  const client = await connectAnnounced(t, hub, device, 'conn-0101');
  await eventually(async () => (await statusOf()).online);

  const seen = nextEventWhere<AnyBody>(caregiver, 'device:status', (u) => u.deviceId === device.id && u.online === false);
  await announceOffline(client, device.id, 'conn-0101', 'reboot');
  t.match(await seen, { online: false, reason: 'reboot' }, 'caregivers see it restarting, live');
  clock.advance(2 * MINUTE);
  t.equal(await presence.sweepOverdueReboots(), 0, 'within the grace: not overdue');

  await connectAnnounced(t, hub, device, 'conn-0102');
  await eventually(async () => (await statusOf()).online);
  clock.advance(10 * MINUTE);
  t.equal(await presence.sweepOverdueReboots(), 0, 'back online: nothing to mark');
  await hub.features.alerts.delivery.settled();
  t.same(raised.filter((a) => a.type === 'device.offline'), [], 'no device.offline raised');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'device.offline' }), 0);
});

t.test('a reboot not back after five minutes raises device.offline (reboot_overdue), resolved when it returns; a shutdown raises at once', async (t) => {
  const { clock, hub, device, raised, statusOf, presence } = await setup(t);
  const client = await connectAnnounced(t, hub, device, 'conn-0103');
  await eventually(async () => (await statusOf()).online);
  await announceOffline(client, device.id, 'conn-0103', 'reboot');
  await eventually(async () => (await statusOf()).reason === 'reboot');

  clock.advance(5 * MINUTE - 1_000);
  t.equal(await presence.sweepOverdueReboots(), 0);
  clock.advance(1_000);
  t.equal(await presence.sweepOverdueReboots(), 1, 'five minutes after the reboot: overdue');
  t.equal(await presence.sweepOverdueReboots(), 0, 'marked once');
  await eventually(async () => raised.some((a) => a.type === 'device.offline'));
  t.match(raised.find((a) => a.type === 'device.offline'), { cause: `device.offline:${device.id}`, details: { reason: 'reboot_overdue' } });
  t.match(await statusOf(), { online: false, reason: 'reboot_overdue' });

  const back = await connectAnnounced(t, hub, device, 'conn-0104');
  await eventually(async () => (await hub.features.alerts.models.Alert.findOne({ type: 'device.offline' }).lean())?.status === 'resolved');
  t.pass('its alert resolves when it is back');

  await announceOffline(back, device.id, 'conn-0104', 'shutdown');
  await eventually(async () => raised.filter((a) => a.type === 'device.offline').length === 2);
  t.match(raised.filter((a) => a.type === 'device.offline')[1], { details: { reason: 'shutdown' } }, 'switched off: caregivers are told at once');
});

t.test('with an offline grace, an overdue reboot still raises device.offline at once: the reboot was its grace', async (t) => {
  const { clock, hub, device, raised, statusOf, presence } = await setup(t, { DEVICE_OFFLINE_ALERT_SECONDS: '600' });
  const client = await connectAnnounced(t, hub, device, 'conn-0105');
  await eventually(async () => (await statusOf()).online);
  await announceOffline(client, device.id, 'conn-0105', 'reboot');
  await eventually(async () => (await statusOf()).reason === 'reboot');
  clock.advance(5 * MINUTE);
  t.equal(await presence.sweepOverdueReboots(), 1);
  await eventually(async () => raised.some((a) => a.type === 'device.offline'));
  t.match(raised.find((a) => a.type === 'device.offline'), { details: { reason: 'reboot_overdue' } }, 'not ten minutes later');
});

t.test('a dispenser whose device.offline could not be raised when it went away gets it from the reconcile job, once per offline spell', async (t) => {
  const { clock, hub, s, device, statusOf } = await setup(t);
  const { Alert } = hub.features.alerts.models;
  const { reconcileOffline } = hub.features.alerts.deviceAlerts;
  const client = await connectAnnounced(t, hub, device, 'conn-0201');
  await eventually(async () => (await statusOf()).online);

  // The store refuses device.offline alerts while it goes away (an index made for the test, and one already there).
  await Alert.init();
  await Alert.collection.insertOne({ type: 'device.offline', cause: 'decoy-for-this-test', status: 'resolved', open: false });
  await Alert.collection.createIndex({ type: 1 }, { unique: true, name: 'one_offline_for_this_test', partialFilterExpression: { type: 'device.offline' } });
  t.teardown(() => Alert.collection.dropIndex('one_offline_for_this_test').catch(() => undefined));
  await announceOffline(client, device.id, 'conn-0201', 'shutdown');
  await eventually(async () => (await statusOf()).reason === 'shutdown');
  await hub.features.alerts.delivery.settled();
  t.equal(await Alert.countDocuments({ cause: `device.offline:${device.id}` }), 0, 'its raise failed: no alert');

  await Alert.collection.dropIndex('one_offline_for_this_test');
  await Alert.deleteOne({ cause: 'decoy-for-this-test' });
  clock.advance(RECONCILE_OFFLINE_AFTER_MS - 1_000);
  t.equal(await reconcileOffline(), 0, 'not before the grace');
  clock.advance(1_000);
  t.equal(await reconcileOffline(), 1, 'then raised');
  const raised = await Alert.findOne({ cause: `device.offline:${device.id}` }).lean();
  t.match(raised, { type: 'device.offline', status: 'active', details: { reason: 'shutdown' } });
  t.equal(await reconcileOffline(), 0, 'once');

  // Resolved by someone while the dispenser is still off: not raised again for the same spell.
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${String(raised?._id)}/resolve`, { note: 'switched off for cleaning' })).status, 200);
  clock.advance(10 * MINUTE);
  t.equal(await reconcileOffline(), 0, 'a resolved alert of this spell counts');
});
