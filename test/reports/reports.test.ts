/**
 * Reports over REST: a patient's symptoms and requests for help, stored, shown to whoever may see the
 * patient (and live, as `report:created`), refused with problem+json when invalid or not allowed; a
 * help request raises a help.requested alert that carries ids and the urgency, never the reason.
 */
import t from 'tap';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';
import { ManualClock } from '../../src/ports/clock.js';

t.test('a symptom: stored, listed for the care team, told live, and checked', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const watcher = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const told = nextEventWhere(watcher, 'report:created', (report) => report.kind === 'symptom');

  const created = await request(hub, 'POST', `/api/v1/patients/${s.patient.id}/symptoms`, { token: s.patientUser.token, body: { symptom: ' dizziness ', severity: 'mild', notes: 'after breakfast', startedAt: '2020-01-01T08:00:00Z' } });
  t.equal(created.status, 201);
  t.match(created.body, { kind: 'symptom', patientId: s.patient.id, symptom: { name: 'dizziness', severity: 'mild', notes: 'after breakfast', startedAt: '2020-01-01T08:00:00.000Z' }, help: null, reportedBy: { userId: s.patientUser.userId, role: 'patient' }, source: 'app', sourceRef: null });
  t.ok(hub.context.schemas.check('http/report-view', created.body).ok, 'the answer follows schemas/http/report-view.json');
  t.same(await told, created.body, 'report:created reaches the caregiver watching the patient');

  const listed = await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports`, { token: s.clinician.token });
  t.equal(listed.status, 200);
  t.same(listed.body.items, [created.body]);

  // Invalid input: problem+json, nothing stored.
  for (const [body, path] of [
    [{ symptom: 'headache', severity: 'terrible' }, '/severity'],
    [{ symptom: '', severity: 'mild' }, '/symptom'],
    [{ symptom: '   ', severity: 'mild' }, '/symptom'],
    [{ symptom: 'headache', severity: 'mild', diagnosis: 'migraine' }, ''],
    [{ symptom: 'headache', severity: 'mild', startedAt: '2999-01-01T00:00:00Z' }, '/startedAt'],
  ] as const) {
    const refused = await request(hub, 'POST', `/api/v1/patients/${s.patient.id}/symptoms`, { token: s.patientUser.token, body });
    t.equal(refused.status, 400, JSON.stringify(body));
    t.match(refused.headers.get('content-type'), /application\/problem\+json/);
    t.equal(refused.body.code, 'validation_failed');
    if (path) t.ok(refused.body.errors.some((e: { path: string }) => e.path === path), `names ${path}`);
  }
  t.equal(await hub.features.reports.models.Report.countDocuments(), 1, 'nothing stored from invalid input');

  // Scoped: who may not see the patient gets 404 (reading and writing), a query string is checked too.
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports`, { token: s.outsider.token })).status, 404);
  t.equal((await request(hub, 'POST', `/api/v1/patients/${s.patient.id}/symptoms`, { token: s.outsider.token, body: { symptom: 'cough', severity: 'mild' } })).status, 404);
  t.equal((await request(hub, 'POST', `/api/v1/patients/${s.otherPatient.id}/symptoms`, { token: s.patientUser.token, body: { symptom: 'cough', severity: 'mild' } })).status, 404, 'a patient reports only for themself');
  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports?kind=diary`, { token: s.caregiver.token })).status, 400);
  t.equal(await hub.features.reports.models.Report.countDocuments(), 1);
});

t.test('a help request raises a help.requested alert by urgency; the reason stays in the report', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const ask = (body: Record<string, unknown>, token = s.patientUser.token) => request(hub, 'POST', `/api/v1/patients/${s.patient.id}/help-requests`, { token, body });
  const reason = 'I fell in the kitchen and cannot get up';

  const emergency = await ask({ urgency: 'emergency', reason });
  t.equal(emergency.status, 201);
  t.ok(hub.context.schemas.check('http/report-view', emergency.body).ok);
  const alertId = emergency.body.help.alertId as string;
  t.match(emergency.body, { kind: 'help', help: { urgency: 'emergency', reason }, source: 'app' });
  const alert = await request(hub, 'GET', `/api/v1/alerts/${alertId}`, { token: s.caregiver.token });
  t.equal(alert.status, 200);
  t.match(alert.body, { type: 'help.requested', severity: 'critical', status: 'active', patientId: s.patient.id, details: { reportId: emergency.body.id, urgency: 'emergency', source: 'app' } });
  t.notOk(JSON.stringify(alert.body).includes('kitchen'), 'the alert carries no words of the patient');

  const again = await ask({ urgency: 'emergency', reason: 'still on the floor' });
  t.equal(again.body.help.alertId, alertId, 'asking again while the alert is open adds to it, not a second alert');
  const routine = await ask({ urgency: 'routine', reason: 'please call me about my refill' });
  t.not(routine.body.help.alertId, alertId, 'another urgency is another alert');
  const routineAlert = await request(hub, 'GET', `/api/v1/alerts/${routine.body.help.alertId}`, { token: s.clinician.token });
  t.match(routineAlert.body, { severity: 'warning', tier: 0 });

  const listed = await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports?kind=help&limit=2`, { token: s.caregiver.token });
  t.same(listed.body.items.map((r: { help: { reason: string } }) => r.help.reason), ['please call me about my refill', 'still on the floor'], 'newest first');
  const next = await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports?kind=help&limit=2&cursor=${listed.body.nextCursor}`, { token: s.caregiver.token });
  t.same(next.body.items.map((r: { help: { reason: string } }) => r.help.reason), [reason]);
  t.equal(next.body.nextCursor, null);

  const invalid = await ask({ urgency: 'whenever', reason: 'x' });
  t.equal(invalid.status, 400);
  t.equal((await ask({ urgency: 'urgent', reason: 'x' }, s.outsider.token)).status, 404);
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'help.requested' }), 2, 'refused requests raise nothing');
});

t.test('a help request whose alert could not be raised gets it from the job, once', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const { Report } = hub.features.reports.models;
  // As a request stored while the alerts could not be raised leaves it: no alertId.
  const [report] = await Report.create([{
    organisationId: s.admin.organisationId,
    patientId: s.patient.id,
    kind: 'help',
    help: { urgency: 'urgent', reason: 'my legs gave way', alertId: null },
    reportedBy: { userId: s.patientUser.userId, role: 'patient' },
    source: 'voice',
    createdAt: clock.now(),
  }]);
  t.equal(await hub.features.reports.service.raiseMissingAlerts(), 0, 'not before it is 30 s old (its own raise may still be under way)');
  clock.advance(31_000);
  t.ok(await hub.context.jobs.run('reports.help-alerts'), 'the job runs');
  const linked = await Report.findById(report?._id).lean();
  const alert = await hub.features.alerts.models.Alert.findById(linked?.help?.alertId).lean();
  t.match(alert, { type: 'help.requested', severity: 'critical', status: 'active', details: { reportId: String(report?._id), urgency: 'urgent', source: 'voice' } });
  t.equal(await hub.features.reports.service.raiseMissingAlerts(), 0, 'and only once');
});
