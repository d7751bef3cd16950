/**
 * Escalation with a test clock: an unacknowledged alert reaches the second
 * tier when its delay passes (and only then), acknowledging stops it, the
 * cause clearing resolves it, raising twice keeps one alert, and quiet hours
 * hold back a warning but not a critical alert.
 */
import t from 'tap';
import { nextEventWhere, request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { currentToken } from '../helpers/factories.js';
import { ManualClock } from '../../src/ports/clock.js';
import { alertScenario, collect, putPatientPolicy, settle, signedInSocket } from './helpers.js';

type Payload = Record<string, unknown>;
const MINUTE = 60_000;

const twoTiers = {
  tiers: [
    { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket'] },
    { recipients: [{ careTeam: { priority: 2 } }, { role: 'clinician' }], channels: ['socket', 'sms'], delayMinutes: 10 },
  ],
};

t.test('an unacknowledged dose.missed reaches tier 2 after its delay; an acknowledged one does not', async (t) => {
  const clock = new ManualClock('2026-03-10T18:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, twoTiers);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const backup = await signedInSocket(t, hub, s.backup.token);
  const clinician = await signedInSocket(t, hub, s.clinician.token);
  const backupNotes = collect(backup, 'alert:notify');
  const clinicianNotes = collect(clinician, 'alert:notify');
  const alerts = hub.features.alerts;
  const organisationId = s.admin.organisationId;

  const firstNote = nextEventWhere<Payload>(caregiver, 'alert:notify', (n) => n.type === 'dose.missed');
  const missed = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-1', details: { occurrenceId: 'occ-1', slot: 1 } });
  t.match(await firstNote, { event: 'alert.raised', tier: 0, alertId: missed.id, patientInitials: 'A.' });
  const again = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-1' });
  t.equal(again.id, missed.id, 'raising the same cause again returns the open alert');
  t.equal(await alerts.models.Alert.countDocuments({ cause: 'dose.missed:occ-1' }), 1, 'deduplicated');

  clock.advance(9 * MINUTE);
  t.equal(await alerts.service.escalate(), 0, 'nothing moves before the delay');
  await settle();
  t.same(backupNotes, [], 'tier 2 not told yet');

  clock.advance(1 * MINUTE);
  const escalated = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.id === missed.id && a.tier === 1);
  t.equal(await alerts.service.escalate(), 1, 'after 10 minutes it moves to tier 2');
  t.match(await escalated, { status: 'active', tier: 1, nextEscalationAt: null });
  await eventually(() => backupNotes.length === 1 && clinicianNotes.length === 1);
  t.match(backupNotes[0], { event: 'alert.escalated', tier: 1, alertId: missed.id });
  t.equal(await alerts.service.escalate(), 0, 'running the tick again notifies nobody twice');
  clock.advance(60 * MINUTE);
  t.equal(await alerts.service.escalate(), 0, 'the last tier is the last');
  await alerts.delivery.settled();
  t.equal(backupNotes.length, 1);

  // Access tokens live 15 minutes of the (test) clock: take ones valid now.
  for (const who of [s.clinician, s.caregiver]) who.token = await currentToken(hub, who);
  const log = await request(hub, 'GET', `/api/v1/alerts/${missed.id}/notifications`, { token: s.clinician.token });
  t.equal(log.status, 200);
  const channels = log.body.items.map((n: Payload) => `${n.tier}:${n.channel}:${n.status}`).sort();
  t.same(channels, ['0:socket:delivered', '1:sms:failed', '1:sms:failed', '1:socket:delivered', '1:socket:delivered'], 'every notification recorded (sms has no gateway configured)');
  t.ok(log.body.items.filter((n: Payload) => n.channel === 'sms').every((n: Payload) => n.reason === 'no_sms_gateway' || n.reason === 'no_phone'));

  // A second alert, acknowledged in time: no escalation.
  const late = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-2' });
  clock.advance(2 * MINUTE);
  const acked = await request(hub, 'POST', `/api/v1/alerts/${late.id}/ack`, { token: s.caregiver.token, body: {} });
  t.equal(acked.status, 200);
  clock.advance(30 * MINUTE);
  t.equal(await alerts.service.escalate(), 0, 'acknowledging stops escalation');
  await settle();
  t.equal(backupNotes.length, 1, 'tier 2 never hears of the acknowledged alert');

  // The cause clears: a late dose was taken.
  const cleared = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.id === missed.id && a.status === 'resolved');
  const followUp = nextEventWhere<Payload>(caregiver, 'alert:notify', (n) => n.alertId === missed.id && n.event === 'alert.resolved');
  const resolved = await alerts.resolveCause('dose.missed:occ-1', 'Dose taken late');
  t.match(resolved, { id: missed.id, status: 'resolved' });
  t.match(await cleared, { resolved: { auto: true, by: null, note: 'Dose taken late' } });
  t.match(await followUp, { type: 'dose.missed', event: 'alert.resolved' }, 'whoever was notified hears it is over');
  await eventually(() => backupNotes.length === 2);
  t.match(backupNotes[1], { alertId: missed.id, event: 'alert.resolved' });
  t.equal(await alerts.resolveCause('dose.missed:occ-1', 'again'), null, 'nothing open for that cause any more');
  const fresh = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-1' });
  t.not(fresh.id, missed.id, 'once resolved, the same cause may open a new alert');

  for (const who of [s.clinician, s.caregiver]) who.token = await currentToken(hub, who);
  const listed = await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}&status=active`, { token: s.caregiver.token });
  t.same(listed.body.items.map((a: Payload) => a.id), [fresh.id]);
  const page = await request(hub, 'GET', `/api/v1/alerts?limit=1`, { token: s.clinician.token });
  t.equal(page.body.items.length, 1);
  t.type(page.body.nextCursor, 'string');
  const next = await request(hub, 'GET', `/api/v1/alerts?limit=1&cursor=${page.body.nextCursor as string}`, { token: s.clinician.token });
  t.not(next.body.items[0].id, page.body.items[0].id, 'cursor pagination');
});

t.test('quiet hours hold back a warning until they end but not a critical alert', async (t) => {
  // 23:00 in Paris (UTC+1 in winter).
  const clock = new ManualClock('2026-01-15T22:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, { ...twoTiers, quietHours: { start: '22:00', end: '07:00' } });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<Payload>(caregiver, 'alert:notify');
  const raisedSeen = collect<Payload>(caregiver, 'alert:raised');
  const alerts = hub.features.alerts;
  const base = { organisationId: s.admin.organisationId, patientId: s.patient.id };

  const warning = await alerts.raise({ ...base, type: 'device.jam', cause: 'device.jam:dev-1' });
  const critical = await alerts.raise({ ...base, type: 'help.requested', cause: 'help.requested:dev-1', startTier: 0 });
  await eventually(() => notes.length >= 1 && raisedSeen.length === 2);
  await settle();
  t.same(notes.map((n) => n.alertId), [critical.id], 'only the critical alert notifies during quiet hours');
  t.equal(raisedSeen.length, 2, 'both still appear live in the patient room');
  const log = await request(hub, 'GET', `/api/v1/alerts/${warning.id}/notifications`, { token: s.clinician.token });
  t.same(log.body.items.map((n: Payload) => [n.status, n.reason]), [['suppressed', 'quiet_hours']], 'the suppressed notification is recorded');
  const view = await request(hub, 'GET', `/api/v1/alerts/${warning.id}`, { token: s.clinician.token });
  t.equal(view.body.nextEscalationAt, '2026-01-16T06:00:00.000Z', 'deferred to 07:00 Paris');

  t.equal((await caregiver.timeout(5000).emitWithAck('alert:ack', { alertId: critical.id })).ok, true);
  clock.set('2026-01-16T05:59:00Z');
  t.equal(await alerts.service.escalate(), 0, 'nothing before the end of quiet hours');
  clock.set('2026-01-16T06:00:00Z');
  t.equal(await alerts.service.escalate(), 1, 'quiet hours over: the first tier is told');
  await eventually(() => notes.length === 2);
  t.match(notes[1], { alertId: warning.id, tier: 0, event: 'alert.raised' });
  const after = await request(hub, 'GET', `/api/v1/alerts/${warning.id}`, { token: await currentToken(hub, s.clinician) });
  t.equal(after.body.nextEscalationAt, '2026-01-16T06:10:00.000Z', 'tier 2 ten minutes later');
});

t.test('escalation policies: defaults, organisation and patient levels, who may change them', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const org = await request(hub, 'GET', '/api/v1/escalation-policy', { token: s.admin.token });
  t.equal(org.status, 200);
  t.equal(org.body.source, 'default');
  t.equal(org.body.tiers.length, 3);
  t.equal((await request(hub, 'GET', '/api/v1/escalation-policy', { token: s.clinician.token })).status, 403);
  const policy = { ...twoTiers, webhooks: [{ url: 'https://example.org/hook?token=x', secret: 'a-long-enough-secret' }] };
  const put = await request(hub, 'PUT', '/api/v1/escalation-policy', { token: s.admin.token, body: policy });
  t.equal(put.status, 200);
  t.same(put.body.webhooks, [{ url: 'https://example.org/hook?token=x', secretSet: true }], 'secrets are never shown');
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token })).body.source, 'organisation');
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.caregiver.token })).status, 403, 'caregivers see the patient but may not manage');
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.outsider.token })).status, 404);
  const bad = await request(hub, 'PUT', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token, body: { tiers: [{ recipients: [{ role: 'patient' }], channels: ['socket'] }] } });
  t.equal(bad.status, 400);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, { tiers: [{ recipients: [{ userId: s.caregiver.userId }], channels: ['socket'] }] });
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token })).body.source, 'patient');
});

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
