/**
 * A forgotten dose under the built-in policy, driven by the doses sweep and a
 * test clock: the `info` dose.late tells the first tier and never escalates;
 * dose.missed takes over from it without a "resolved" follow-up in between
 * and escalates from there. A successor starts at the tier its predecessor
 * reached; an info alert held back by quiet hours is told when they end, and
 * goes no further.
 */
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import type { AnyBody } from '../helpers/clients.js';
import type { Login } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';
import { onlineDevice } from '../doses/helpers.js';
import { alertScenario, as, collect, putPatientPolicy, quietNightPolicy, signedInSocket } from './helpers.js';

const MINUTE = 60_000;

/** `event tier channel` of every notification of an alert, in order, with the minute it was recorded. */
async function story(hub: Hub, user: Login, alertId: string): Promise<string[]> {
  const log = await as(hub, user, 'GET', `/alerts/${alertId}/notifications`);
  return (log.body.items as AnyBody[]).map((n) => `${(n.createdAt as string).slice(11, 16)} ${n.event as string} t${n.tier as number} ${n.channel as string}`);
}

t.test('a forgotten dose: dose.late tells the first tier only; dose.missed takes over without a follow-up and escalates from there', async (t) => {
  // 08:00 in Paris is 06:00 UTC in June.
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await onlineDevice(t, hub, s.clinician, s.patient.id);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const caregiverNotes = collect<AnyBody>(caregiver, 'alert:notify');
  const plan = { medications: [{ id: 'm', name: 'Metformin', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'i', medicationId: 'm', times: ['08:00'], startDate: '2026-06-10' }] };
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);

  const due = Date.parse('2026-06-10T06:00:00Z');
  for (let minute = 0; minute <= 90; minute += 1) {
    clock.set(new Date(due + minute * MINUTE));
    await hub.features.doses.service.sweep();
    await hub.features.alerts.service.escalate();
  }
  await hub.features.alerts.delivery.settled();

  const { Alert } = hub.features.alerts.models;
  const late = await Alert.findOne({ type: 'dose.late' }).lean();
  const missed = await Alert.findOne({ type: 'dose.missed' }).lean();
  t.match(late, { severity: 'info', status: 'resolved', tier: 0, nextEscalationAt: null });
  t.same(await story(hub, s.clinician, String(late?._id)), ['06:30 alert.raised t0 socket', '06:30 alert.raised t0 sms'], 'the late dose told the first tier, escalated to nobody, and sent no "resolved" as dose.missed took over');
  t.match((await as(hub, s.clinician, 'GET', `/alerts/${String(missed?._id)}`)).body, { follows: String(late?._id), tier: 2, status: 'active' }, 'dose.missed says which alert it took over from');
  t.same(await story(hub, s.clinician, String(missed?._id)), [
    '07:00 alert.raised t0 socket', '07:00 alert.raised t0 sms',
    '07:10 alert.escalated t1 socket', '07:10 alert.escalated t1 sms',
    '07:25 alert.escalated t2 socket', '07:25 alert.escalated t2 sms', '07:25 alert.escalated t2 voice',
  ], 'one escalation, the missed dose’s: the clinicians are called once, 85 minutes after the dose was due');
  t.same(caregiverNotes.map((n) => `${n.type as string} ${n.event as string}`), ['dose.late alert.raised', 'dose.missed alert.raised'], 'the caregiver hears: late, then missed — never "resolved" in between');
});

t.test('an alert taking over from another starts at the tier its predecessor reached', async (t) => {
  const clock = new ManualClock('2026-03-10T18:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const backup = await signedInSocket(t, hub, s.backup.token);
  const backupNotes = collect<AnyBody>(backup, 'alert:notify');
  const alerts = hub.features.alerts;
  const base = { organisationId: s.admin.organisationId, patientId: s.patient.id, details: { occurrenceId: 'occ-7' } };

  // A raiser may make a late dose a warning: then it escalates like one (built-in policy: tier 2 after 10 minutes).
  const late = await alerts.raise({ ...base, type: 'dose.late', severity: 'warning', cause: 'dose.late:occ-7' });
  clock.advance(10 * MINUTE);
  t.equal(await alerts.service.escalate(), 1);
  clock.advance(5 * MINUTE);
  const missed = await alerts.raise({ ...base, type: 'dose.missed', cause: 'dose.missed:occ-7' });
  await alerts.resolveCauses(['dose.late:occ-7'], 'missed');
  await alerts.delivery.settled();

  const view = (await as(hub, s.clinician, 'GET', `/alerts/${missed.id}`)).body;
  t.match(view, { tier: 1, follows: late.id, nextEscalationAt: '2026-03-10T18:30:00.000Z' }, 'tier 2 at once, the clinicians 15 minutes on: the ladder continues, it does not start over');
  t.same(backupNotes.map((n) => `${n.type as string} ${n.event as string} t${n.tier as number}`), ['dose.late alert.escalated t1', 'dose.missed alert.raised t1'], 'the second caregiver hears of the missed dose at once, and no "resolved" for the late one');
});

t.test('an info alert held back by quiet hours is told when they end, and never escalates', async (t) => {
  // 23:00 in Paris (UTC+1 in winter).
  const clock = new ManualClock('2026-01-15T22:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, quietNightPolicy);
  const alerts = hub.features.alerts;
  const late = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.late', cause: 'dose.late:occ-q' });
  clock.set('2026-01-16T06:00:00Z');
  t.equal(await alerts.service.escalate(), 1, 'quiet hours over: the first tier is told');
  t.match(await alerts.models.Alert.findById(late.id).lean(), { tier: 0, notifiedTier: 0, nextEscalationAt: null }, 'and nothing more is planned');
  clock.advance(60 * MINUTE);
  t.equal(await alerts.service.escalate(), 0);

  // An info alert stored with an escalation pending (before info alerts stopped escalating) is not escalated either.
  const older = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.late', cause: 'dose.late:occ-old' });
  await alerts.models.Alert.updateOne({ _id: older.id }, { $set: { nextEscalationAt: clock.now() } });
  t.equal(await alerts.service.escalate(), 0);
  t.match(await alerts.models.Alert.findById(older.id).lean(), { tier: 0, nextEscalationAt: null });
  await alerts.delivery.settled();
  t.equal(await alerts.models.Notification.countDocuments({ event: 'alert.escalated' }), 0, 'nobody above the first tier was told');
});
