/**
 * A cause that happens again while its alert is acknowledged (not resolved):
 * a second call for help, or a dispenser jamming again, is a new incident —
 * the alert becomes active again, its starting tiers and whoever acknowledged
 * it are told (`alert.reactivated`), escalation restarts; quiet hours hold a
 * warning's re-activation back. Repeats while it is active, the same event
 * run twice, and repeats of causes that are not incidents (a low battery)
 * add nothing. Two instances re-activating at once notify once.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { nextEventWhere, type AnyBody } from '../helpers/clients.js';
import { connectDevice, eventually, heartbeat, provisionDevice, topic } from '../helpers/devices.js';
import type { Login } from '../helpers/factories.js';
import { startHubPair, startTestHub } from '../helpers/hub.js';
import { alertScenario, as, collect, deviceEvent, putPatientPolicy, quietNightPolicy, settle, signedInSocket } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

async function notificationLog(hub: Hub, user: Login, alertId: string): Promise<string[]> {
  const log = await as(hub, user, 'GET', `/alerts/${alertId}/notifications`);
  return (log.body.items as AnyBody[]).map((n) => `${n.event as string} t${n.tier as number} ${n.channel as string} ${n.userId ?? n.endpoint ?? ''} ${n.status as string}`);
}

t.test('a call for help after the first was acknowledged re-activates it: told again, escalation restarted; more presses while active add nothing', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const backup = await signedInSocket(t, hub, s.backup.token);
  const caregiverNotes = collect<AnyBody>(caregiver, 'alert:notify');
  const backupNotes = collect<AnyBody>(backup, 'alert:notify');
  const raisedSeen = collect<AnyBody>(caregiver, 'alert:raised');
  const client = await connectDevice(t, hub, device);
  const press = () => deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });

  await press();
  await eventually(async () => raisedSeen.length === 1 && caregiverNotes.length === 1 && backupNotes.length === 1);
  const id = String(raisedSeen[0]?.id);
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${id}/ack`, { note: 'calling her' })).body.status, 'acknowledged');

  // Six hours later she presses again: a new emergency, not the one acknowledged this morning.
  clock.advance(6 * HOUR);
  const reactivated = nextEventWhere<AnyBody>(caregiver, 'alert:updated', (a) => a.id === id && a.status === 'active');
  const secondPress = await press();
  const now = clock.now().toISOString();
  t.match(await reactivated, {
    status: 'active',
    acknowledged: null,
    tier: 1,
    raisedAt: '2026-06-10T08:00:00.000Z',
    nextEscalationAt: new Date(clock.now().getTime() + 15 * MINUTE).toISOString(),
    reactivations: [{ at: now, occurredAt: now, acknowledged: { by: s.caregiver.userId, note: 'calling her', auto: false }, details: { eventId: secondPress } }],
  }, 'the same alert, active again, its acknowledgement kept in its reactivations');
  await eventually(async () => caregiverNotes.length === 2 && backupNotes.length === 2);
  t.match(caregiverNotes[1], { event: 'alert.reactivated', alertId: id, tier: 0, severity: 'critical' }, 'the first tier told again');
  t.match(backupNotes[1], { event: 'alert.reactivated', alertId: id, tier: 1 }, 'and the second: help starts there');

  // She keeps pressing while it is active: one page per acknowledgement, not one per press.
  for (let i = 0; i < 4; i += 1) await press();
  await hub.features.alerts.delivery.settled();
  await settle();
  t.equal(caregiverNotes.length, 2, 'no page per press');
  t.equal(raisedSeen.length, 1, 'never a second alert:raised: it is the same alert');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'help.requested' }), 1, 'one alert');

  // Escalation restarted from the starting tier: the clinicians 15 minutes after the re-activation.
  clock.advance(14 * MINUTE);
  t.equal(await hub.features.alerts.service.escalate(), 0);
  clock.advance(MINUTE);
  t.equal(await hub.features.alerts.service.escalate(), 1, 'the third tier, as for a new call for help');

  const view = await as(hub, s.clinician, 'GET', `/alerts/${id}`);
  t.match(view.body, { status: 'active', tier: 2, reactivations: [{ acknowledged: { by: s.caregiver.userId } }] });
  t.equal(view.body.reactivations.length, 1);
  const log = await notificationLog(hub, s.clinician, id);
  const story = log.map((line) => line.split(' ').slice(0, 3).join(' '));
  t.same(story, [
    'alert.raised t0 socket', 'alert.raised t0 sms', 'alert.raised t1 socket', 'alert.raised t1 sms',
    'alert.reactivated t0 socket', 'alert.reactivated t0 sms', 'alert.reactivated t1 socket', 'alert.reactivated t1 sms',
    'alert.escalated t2 socket', 'alert.escalated t2 sms', 'alert.escalated t2 voice',
  ], 'the notification log tells the story');

  // The press that re-activated it, acted on twice (its effects run again), is not a third incident.
  t.equal((await as(hub, s.backup, 'POST', `/alerts/${id}/ack`, { note: 'I am there' })).status, 200);
  const again = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, deviceId: device.id, type: 'help.requested', cause: `help.requested:${device.id}`, details: { eventId: secondPress } });
  t.match(again, { id, status: 'acknowledged' }, 'the same event does not re-activate it');
});

t.test('whoever acknowledged is told of the re-activation, even above the tiers it starts at', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const clinician = await signedInSocket(t, hub, s.clinician.token);
  const clinicianNotes = collect<AnyBody>(clinician, 'alert:notify');
  const client = await connectDevice(t, hub, device);
  const raised = nextEventWhere<AnyBody>(clinician, 'alert:raised', (a) => a.type === 'help.requested');
  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  const id = String((await raised).id);
  // The clinician (the third tier, not told yet) sees it live and takes it on.
  t.equal((await as(hub, s.clinician, 'POST', `/alerts/${id}/ack`, { note: 'calling' })).status, 200);
  await settle();
  t.same(clinicianNotes, [], 'not notified before: above the starting tier');

  clock.advance(20 * MINUTE);
  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => clinicianNotes.length === 1);
  t.match(clinicianNotes[0], { event: 'alert.reactivated', alertId: id });
});

t.test('a jam after the first was acknowledged re-activates it; during quiet hours its notifications wait for their end', async (t) => {
  // 21:00 in Paris (UTC+1 in winter); quiet hours from 22:00.
  const clock = new ManualClock('2026-01-15T20:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, quietNightPolicy);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const client = await connectDevice(t, hub, device);

  await deviceEvent(hub, client, device.id, clock, { type: 'device.jam', slot: 1 });
  await eventually(async () => notes.length === 1);
  const id = String(notes[0]?.alertId);
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${id}/ack`, {})).status, 200);

  // 23:30 in Paris: it jams again, on another slot.
  clock.set('2026-01-15T22:30:00Z');
  const reactivated = nextEventWhere<AnyBody>(caregiver, 'alert:updated', (a) => a.id === id && a.status === 'active');
  await deviceEvent(hub, client, device.id, clock, { type: 'device.jam', slot: 2 });
  t.match(await reactivated, { tier: 0, nextEscalationAt: '2026-01-16T06:00:00.000Z', details: { slot: 1 }, reactivations: [{ details: { slot: 2 } }] }, 'active again, shown live; told when quiet hours end');
  await settle();
  t.equal(notes.length, 1, 'a warning wakes nobody during quiet hours');
  t.match((await notificationLog(hub, s.clinician, id)).at(-1), /^alert\.reactivated t0 socket \S+ suppressed$/, 'recorded as suppressed');

  clock.set('2026-01-16T06:00:00Z');
  t.equal(await hub.features.alerts.service.escalate(), 1);
  await eventually(async () => notes.length === 2);
  t.match(notes[1], { event: 'alert.reactivated', tier: 0, alertId: id }, 'at 07:00 the first tier hears it jammed again');
});

t.test('a repeat of a cause that is not an incident of its own leaves the acknowledged alert alone', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const client = await connectDevice(t, hub, device);
  const beat = (batteryPercent: number) => client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ at: clock.now().toISOString(), batteryPercent })), { qos: 1 });

  await beat(12);
  await eventually(async () => notes.length === 1);
  const id = String(notes[0]?.alertId);
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${id}/ack`, { note: 'charging it tonight' })).status, 200);
  clock.advance(HOUR);
  await beat(11);
  await eventually(async () => (await hub.features.devices.models.Device.findById(device.id).lean())?.status?.batteryPercent === 11);
  await deviceEvent(hub, client, device.id, clock, { type: 'device.tamper', sensor: 'lid_open' });
  const tamper = await hub.features.alerts.models.Alert.findOne({ type: 'device.tamper' }).lean();
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${String(tamper?._id)}/ack`, {})).status, 200);
  await deviceEvent(hub, client, device.id, clock, { type: 'device.tamper', sensor: 'lid_open' });
  await hub.features.alerts.delivery.settled();
  await settle();
  t.match(await hub.features.alerts.models.Alert.findById(id).lean(), { status: 'acknowledged', reactivations: [] }, 'battery still low: acknowledged all the same');
  t.match(await hub.features.alerts.models.Alert.findById(tamper?._id).lean(), { status: 'acknowledged', reactivations: [] }, 'the lid opened again (a refill): acknowledged all the same');
  t.equal(notes.length, 2, 'nobody told again (battery, then tamper once)');
});

t.test('two instances each get a new call for help for the same acknowledged alert at once: re-activated once, each recipient told once', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const { a, b } = await startHubPair(t, { clock });
  const s = await alertScenario(a);
  const onA = collect<AnyBody>(await signedInSocket(t, a, s.caregiver.token), 'alert:notify');
  const onB = collect<AnyBody>(await signedInSocket(t, b, s.caregiver.token), 'alert:notify');
  const help = (eventId: string) => ({ organisationId: s.admin.organisationId, patientId: s.patient.id, deviceId: 'dev-x', type: 'help.requested' as const, cause: 'help.requested:dev-x', details: { eventId } });

  const first = await a.features.alerts.raise(help(randomUUID()));
  t.equal((await as(a, s.caregiver, 'POST', `/alerts/${first.id}/ack`, {})).status, 200);
  clock.advance(HOUR);
  const [fromA, fromB] = await Promise.all([a.features.alerts.raise(help(randomUUID())), b.features.alerts.raise(help(randomUUID()))]);
  t.same([fromA.id, fromB.id], [first.id, first.id], 'both answer with the same alert');
  t.same([fromA.status, fromB.status], ['active', 'active']);
  await Promise.all([a.features.alerts.delivery.settled(), b.features.alerts.delivery.settled()]);
  await settle(300);
  const stored = await a.features.alerts.models.Alert.findById(first.id).lean();
  t.equal(stored?.reactivations.length, 1, 're-activated once');
  t.equal(await a.features.alerts.models.Notification.countDocuments({ alertId: first.id, event: 'alert.reactivated', userId: s.caregiver.userId, channel: 'socket' }), 1, 'one notification to the caregiver in the log');
  t.equal(onA.filter((n) => n.event === 'alert.reactivated').length, 1, 'the socket on hub A got it once');
  t.equal(onB.filter((n) => n.event === 'alert.reactivated').length, 1, 'the socket on hub B got it once');
});
