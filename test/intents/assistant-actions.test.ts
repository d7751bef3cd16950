/**
 * The assistant's tools that change the record — confirm_dose, log_symptom, request_help — run
 * through the same services as the REST routes: the caller's permissions, the dose window, the alert.
 * Through chat with the offline model (no key), and through the executor for the cases a model may
 * get wrong (an unknown medication, a dose of another medication, a time in the future).
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario, currentToken, type Login } from '../helpers/factories.js';
import { as, dosesOf, startDoseHub, twoMedicationPlan } from '../doses/helpers.js';
import { createConversation } from '../conversations/helpers.js';
import type { Hub } from '../../src/hub.js';

const DAY_FROM = '2026-06-10T00:00:00Z';
const DAY_TO = '2026-06-11T00:00:00Z';

/** The plan made at 06:00 in Paris on 10 June 2026; then 08:05: the 08:00 Metformin dose is due. */
async function morning(t: Test) {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'));
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const doses = await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO);
  clock.set('2026-06-10T06:05:00Z');
  return { clock, hub, s, doses };
}

async function say(hub: Hub, who: Login, conversationId: string, content: string) {
  const reply = await as(hub, who, 'POST', '/chat/message', { conversationId, content });
  if (reply.status !== 200) throw new Error(`chat: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body.message as { content: string; toolCalls: Array<{ name: string; ok: boolean }> };
}

t.test('chat: "I took my Metformin" confirms the dose due now, once', async (t) => {
  const { hub, s, doses } = await morning(t);
  const conversation = await createConversation(hub, { ...s.patientUser, token: await currentToken(hub, s.patientUser) }, s.patient.id);
  const answer = await say(hub, s.patientUser, conversation.id, 'I just took my metformin');
  t.match(answer.toolCalls, [{ name: 'confirm_dose', ok: true }]);
  t.match(answer.content, /Recorded: the Metformin dose due .*08:00 was taken\./);
  const [first] = await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO);
  t.match(first, { id: doses[0]?.id, medicationId: 'metformin', state: 'taken', source: 'confirmation', takenAt: '2026-06-10T06:05:00.000Z' });
  const stored = await hub.features.doses.models.Occurrence.findById(doses[0]?.id).lean();
  t.equal(String((stored as { confirmedBy?: unknown } | null)?.confirmedBy), s.patientUser.userId, 'confirmed by the patient who said it');

  const repeated = await say(hub, s.patientUser, conversation.id, 'I took my Metformin');
  t.match(repeated.content, /already recorded as taken/, 'said twice: already recorded, nothing changed');
  const states = (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)).map((dose) => dose.state);
  t.same(states, ['taken', 'scheduled', 'scheduled']);

  const which = await say(hub, s.patientUser, conversation.id, 'I have taken my pills');
  t.match(which.content, /Which medication did you take: Metformin and Warfarin\?/, 'no medication named: it asks, records nothing');
  t.same(which.toolCalls, []);
});

t.test('chat: a call for help raises the alert, and the report names the conversation', async (t) => {
  const { hub, s } = await morning(t);
  const conversation = await createConversation(hub, { ...s.patientUser, token: await currentToken(hub, s.patientUser) }, s.patient.id);
  const answer = await say(hub, s.patientUser, conversation.id, 'Please call my daughter, I need help now');
  t.match(answer.toolCalls, [{ name: 'request_help', ok: true }]);
  t.match(answer.content, /Your care team has been alerted\./);
  const reports = await as(hub, s.caregiver, 'GET', `/patients/${s.patient.id}/reports`);
  t.match(reports.body.items, [{ kind: 'help', help: { urgency: 'urgent' }, source: 'chat', sourceRef: conversation.id }]);
  const alert = await hub.features.alerts.models.Alert.findById(reports.body.items[0].help.alertId).lean();
  t.match(alert, { type: 'help.requested', severity: 'critical', status: 'active' });
});

t.test('confirm_dose refuses what it cannot name exactly, with words the model can act on', async (t) => {
  const { clock, hub, s, doses } = await morning(t);
  const { executor } = hub.features.intents;
  const scopeOf = async (who: Login) => ({
    actor: { principal: await hub.features.identity.auth.authenticate(await currentToken(hub, who)), via: 'http' as const },
    patient: { id: s.patient.id, organisationId: s.admin.organisationId, timeZone: 'Europe/Paris' },
    now: clock.now(),
    origin: { source: 'voice' as const, ref: 'session-1' },
  });
  const run = async (args: Record<string, unknown>, who: Login = s.caregiver) => {
    const result = await executor.run({ id: 'call-1', name: 'confirm_dose', arguments: JSON.stringify(args) }, await scopeOf(who));
    return { ...result, parsed: JSON.parse(result.result) as Record<string, unknown> };
  };
  const warfarin = doses.find((dose) => dose.medicationId === 'warfarin');

  t.match(await run({ medication: 'Aspirin' }), { ok: false, errorCode: 'validation_failed', parsed: { error: { message: /The plan lists: Metformin, Warfarin/ } } });
  t.match(await run({ medication: 'Warfarin' }), { ok: false, errorCode: 'conflict', parsed: { error: { message: /No dose of Warfarin is due now/ } } }, 'the evening dose is not open yet');
  t.match(await run({ medication: 'in' }), { ok: false, errorCode: 'validation_failed', parsed: { error: { message: /could be several medications \(Metformin, Warfarin\)\. Ask which one/ } } });
  t.match(await run({ medication: 'Metformin', occurrence_id: warfarin?.id }), { ok: false, errorCode: 'validation_failed', parsed: { error: { message: /not a dose of Metformin/ } } });
  t.match(await run({ medication: 'Metformin', taken_at: '2026-06-10T09:00:00+02:00' }), { ok: false, errorCode: 'validation_failed', parsed: { error: { message: /in the future/ } } });
  t.match(await run({ medication: 'Metformin', when: 'now' }), { ok: false, errorCode: 'invalid_arguments' });
  t.match(await run({ medication: 'Metformin' }, s.outsider), { ok: false, errorCode: 'not_found' }, 'a caller who may not see the patient');
  t.equal((await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)).filter((dose) => dose.state === 'taken').length, 0, 'nothing confirmed by a refused call');

  // A caregiver, by name and with the time the patient said: taken at 08:02, on time.
  const confirmed = await run({ medication: 'met', taken_at: '2026-06-10T08:02:00+02:00' });
  t.match(confirmed, { ok: true, parsed: { ok: true, alreadyRecorded: false, medication: 'Metformin', occurrence_id: doses[0]?.id, state: 'taken', takenAtLocal: /08:02/ } });
  const audit = await hub.features.identity.audit.model.find({ action: 'assistant.tool.confirm_dose' }).lean();
  t.same(audit.map((entry) => entry.outcome).sort(), ['allowed', 'denied', 'failed', 'failed', 'failed', 'failed', 'failed'].sort(), 'every call that reached the tool is audited');
});
