/**
 * Daily and weekly summaries: counted from the doses, alerts and reports of the patient's local
 * period, written by the language model when one is configured (the fake OpenAI server here) and by
 * fixed rules otherwise or when it fails; once per patient and period, by the nightly job or on request.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { SUMMARY_INSTRUCTIONS } from '../../src/features/summaries/writer.js';
import { careScenario, type Login } from '../helpers/factories.js';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { currentToken } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';
import { as, dosesOf, twoMedicationPlan } from '../doses/helpers.js';
import { reply, startFakeOpenAIServer, type FakeOpenAIServer } from '../fakes/openai-server.js';
import type { Hub } from '../../src/hub.js';
import type { SummaryView } from '../../src/generated/http/summary-view.js';

const OPENAI_KEY = 'sk-test-summaries';

/**
 * 10 June 2026 in Paris: the plan made at 06:00; the 08:00 Metformin confirmed, a symptom and a call
 * for help; the rest of the day's doses left to the sweep. Then 02:30 on the 11th.
 */
async function dayLived(t: Test, openai?: FakeOpenAIServer) {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const env: Record<string, string> = openai ? { OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: openai.baseURL, OPENAI_MODEL: 'gpt-test' } : {};
  const hub = await startTestHub(t, { clock, env });
  const s = await careScenario(hub);
  const plan = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'));
  if (plan.status !== 201) throw new Error(JSON.stringify(plan.body));
  const [morning] = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  clock.set('2026-06-10T06:10:00Z');
  await expectStatus(as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/doses/${morning?.id}/confirm`, {}), 200);
  await expectStatus(as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/symptoms`, { symptom: 'Nausea', severity: 'mild' }), 201);
  clock.set('2026-06-10T15:00:00Z');
  await expectStatus(as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/symptoms`, { symptom: 'nausea', severity: 'severe' }), 201);
  await expectStatus(as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/help-requests`, { urgency: 'routine', reason: 'please call me' }), 201);
  clock.set('2026-06-10T22:30:00Z');
  await hub.features.doses.service.sweep();
  clock.set('2026-06-11T00:30:00Z');
  return { clock, hub, s };
}

async function expectStatus(response: Promise<{ status: number; body: unknown }>, status: number): Promise<void> {
  const answer = await response;
  if (answer.status !== status) throw new Error(`${answer.status} ${JSON.stringify(answer.body)}`);
}

async function summariesOf(hub: Hub, who: Login, patientId: string, query = '') {
  const listed = await as(hub, who, 'GET', `/patients/${patientId}/summaries${query}`);
  if (listed.status !== 200) throw new Error(`${listed.status} ${JSON.stringify(listed.body)}`);
  return listed.body.items as SummaryView[];
}

t.test('the nightly job: the day over, counted from the records, written by rules offline, once', async (t) => {
  const { hub, s } = await dayLived(t);
  const watcher = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const told = nextEventWhere(watcher, 'summary:created', (summary) => summary.period === 'day');

  t.ok(await hub.context.jobs.run('summaries.nightly'));
  const [day, ...others] = await summariesOf(hub, s.caregiver, s.patient.id);
  t.same(others, [], 'nothing for the periods before the plan began (last week)');
  t.ok(hub.context.schemas.check('http/summary-view', day).ok, 'follows schemas/http/summary-view.json');
  t.match(day, { period: 'day', from: '2026-06-10', to: '2026-06-10', timeZone: 'Europe/Paris', writer: { kind: 'rules', provider: null, errorCode: null } });
  const adherence = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/adherence?from=2026-06-10&to=2026-06-10`);
  const { adherencePercent, scheduled, takenOnTime, late, missed, skipped, unknown, pending } = adherence.body.total;
  t.same(day?.facts.doses, { scheduled, takenOnTime, late, missed, skipped, unknown, pending, adherencePercent }, 'the doses as the adherence report counts them');
  t.equal(scheduled, 3);
  t.equal(takenOnTime, 1);
  t.match(day?.facts.medications, [{ medicationId: 'metformin', name: 'Metformin', counts: { scheduled: 2, takenOnTime: 1 } }, { medicationId: 'warfarin', name: 'Warfarin', counts: { scheduled: 1 } }]);
  t.same(day?.facts.symptoms, [{ name: 'nausea', severity: 'severe', count: 2 }], 'symptoms by name, the worst severity');
  t.equal(day?.facts.helpRequests, 1);
  t.ok(day?.facts.alerts.some((a) => a.type === 'help.requested'), 'the alerts raised that day');
  t.match(day?.text, /^Alice took 1 of 3 scheduled doses on the day 2026-06-10/);
  t.match(day?.text, /Symptoms reported: nausea \(severe, 2 times\)\. 1 request for help\./);
  t.notOk(day?.text.includes('please call me'), 'no words of the patient');
  t.same(await told, day, 'summary:created reaches the care team');

  t.ok(await hub.context.jobs.run('summaries.nightly'));
  t.equal((await summariesOf(hub, s.caregiver, s.patient.id)).length, 1, 'run again, nothing written twice');
});

t.test('on request: a period that is over, once; scoped; checked', async (t) => {
  const { hub, s } = await dayLived(t);
  const ask = (body: Record<string, unknown>, who: Login = s.caregiver) => as(hub, who, 'POST', `/patients/${s.patient.id}/summaries`, body);
  const first = await ask({ period: 'day' });
  t.equal(first.status, 201, 'yesterday by default');
  t.match(first.body, { period: 'day', from: '2026-06-10' });
  const again = await ask({ period: 'day', date: '2026-06-10' });
  t.equal(again.status, 200, 'asked again: the one written');
  t.equal(again.body.id, first.body.id);
  const notOver = await ask({ period: 'week', date: '2026-06-10' });
  t.equal(notOver.status, 400);
  t.match(notOver.body, { code: 'validation_failed', detail: /not over yet/ });
  t.equal((await ask({ period: 'month' })).status, 400);
  t.equal((await ask({ period: 'day', date: '10/06/2026' })).status, 400);
  t.equal((await ask({ period: 'day' }, s.outsider)).status, 404);
  t.equal((await as(hub, s.outsider, 'GET', `/patients/${s.patient.id}/summaries`)).status, 404);
  t.same((await summariesOf(hub, s.clinician, s.patient.id, '?period=week')), [], 'filtered by period');
});

t.test('with a language model: it writes from the facts; when it fails, the rules do and say why', async (t) => {
  const openai = await startFakeOpenAIServer({ apiKey: OPENAI_KEY });
  t.teardown(() => openai.close());
  const { hub, s } = await dayLived(t, openai);
  openai.enqueue(reply.text('Alice took one of three doses and reported nausea twice; she asked for a call.'), reply.httpError(400, { message: 'bad request', type: 'invalid_request_error' }));
  const before = openai.requests.length;
  const day = await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/summaries`, { period: 'day' });
  t.equal(day.status, 201);
  t.match(day.body, { text: 'Alice took one of three doses and reported nausea twice; she asked for a call.', writer: { kind: 'model', provider: 'openai-compatible', model: 'gpt-test', errorCode: null } });
  const sent = openai.requests[before]?.body as { messages: Array<{ role: string; content: string }>; tools?: unknown };
  t.equal(sent.messages[0]?.content, SUMMARY_INSTRUCTIONS);
  t.match(sent.messages[1]?.content, /Summarise the day 2026-06-10 for Alice\./);
  t.match(sent.messages[1]?.content, /Doses: 3 scheduled, 1 taken on time/);
  t.match(sent.messages[1]?.content, /Symptoms reported: "nausea" \(severe, 2 times\)/, 'the patient’s words quoted, as data');
  t.equal(sent.tools, undefined, 'no tools: it only writes');

  const week = await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/summaries`, { period: 'week', date: '2026-06-03' });
  t.equal(week.status, 201);
  t.match(week.body, { writer: { kind: 'rules', errorCode: 'bad_request' }, text: /No doses were scheduled/ });
});

t.test('a period whose doses are still open waits for them', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  await expectStatus(as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10')), 201);
  // 02:30 in Paris on the 11th, and the doses sweep has not run since the plan was made: the day's doses are open.
  clock.set('2026-06-11T00:30:00Z');
  const askWithKey = async () => request(hub, 'POST', `/api/v1/patients/${s.patient.id}/summaries`, { token: await currentToken(hub, s.caregiver), headers: { 'Idempotency-Key': 'summary-1' }, body: { period: 'day' } });
  const early = await askWithKey();
  t.equal(early.status, 409);
  t.match(early.body, { code: 'conflict', detail: /still open/ });
  t.ok(await hub.context.jobs.run('summaries.nightly'));
  t.same(await summariesOf(hub, s.caregiver, s.patient.id), [], 'the job waits too');
  await hub.features.doses.service.sweep();
  t.ok(await hub.context.jobs.run('summaries.nightly'));
  const [day] = await summariesOf(hub, s.caregiver, s.patient.id);
  t.match(day, { period: 'day', from: '2026-06-10', facts: { doses: { scheduled: 3, pending: 0 } } }, 'written once they are settled');
  const later = await askWithKey();
  t.equal(later.status, 200, 'the 409 "ask again later" was not kept for its Idempotency-Key');
  t.equal(later.body.id, day?.id);
});
