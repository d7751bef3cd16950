/**
 * Voice over REST against a local server that speaks Deepgram's token grant: a session gives a
 * short-lived token and the agent's Settings (the assistant's prompt and tools); the client relays
 * the agent's FunctionCallRequests, each run once with the session user's permissions and told to
 * the care team (`voice:intent`). Without DEEPGRAM_API_KEY: a clear 503, nothing else changes.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { careScenario, currentToken } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';
import { as, dosesOf, twoMedicationPlan } from '../doses/helpers.js';
import { deepgramReply, startFakeDeepgramServer } from '../fakes/deepgram-server.js';

const API_KEY = 'dg-test-voice';

async function voiceHub(t: Test) {
  const deepgram = await startFakeDeepgramServer({ apiKey: API_KEY });
  t.teardown(() => deepgram.close());
  // The plan is made at 06:00 in Paris; then 08:05, when the 08:00 Metformin dose is due.
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startTestHub(t, { clock, env: { DEEPGRAM_API_KEY: API_KEY, DEEPGRAM_BASE_URL: deepgram.baseUrl, DEEPGRAM_AGENT_URL: 'ws://127.0.0.1:9/v1/agent/converse' } });
  const s = await careScenario(hub);
  const plan = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'));
  if (plan.status !== 201) throw new Error(JSON.stringify(plan.body));
  clock.set('2026-06-10T06:05:00Z');
  return { deepgram, clock, hub, s };
}

const call = (id: string, name: string, args: Record<string, unknown>) => ({ id, name, arguments: JSON.stringify(args), client_side: true });

t.test('a session: a Deepgram token, and Settings with the assistant’s prompt and tools', async (t) => {
  const { deepgram, hub, s } = await voiceHub(t);
  const started = await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id });
  t.equal(started.status, 201, JSON.stringify(started.body));
  t.ok(hub.context.schemas.check('http/voice-session-view', started.body).ok, 'follows schemas/http/voice-session-view.json');
  const { token, settings, agentUrl, expiresAt, patientId } = started.body;
  t.equal(patientId, s.patient.id);
  t.equal(agentUrl, 'ws://127.0.0.1:9/v1/agent/converse');
  t.equal(expiresAt, '2026-06-10T07:05:00.000Z', 'accepts calls for VOICE_SESSION_MINUTES (60)');
  t.ok(deepgram.issuedTokens.includes(token.accessToken), 'the token is the one Deepgram granted');
  t.match(token, { expiresIn: 30, expiresAt: '2026-06-10T06:05:30.000Z' });
  const grant = deepgram.requests.at(-1);
  t.match(grant, { method: 'POST', path: '/v1/auth/grant', headers: { authorization: `Token ${API_KEY}` }, body: { ttl_seconds: 30 } });

  t.equal(settings.type, 'Settings');
  t.match(settings.agent.think.prompt, /talking with the patient themself about Alice's medication/);
  t.match(settings.agent.think.prompt, /record it with confirm_dose/, 'the prompt says what the tools may do');
  t.match(settings.agent.think.prompt, /Metformin/, 'and what is recorded');
  const functions = settings.agent.think.functions as Array<{ name: string; defer_until_eot?: boolean; endpoint?: unknown }>;
  t.same(functions.map((fn) => fn.name).sort(), ['confirm_dose', 'get_adherence', 'get_medication_plan', 'get_next_dose', 'log_symptom', 'request_help']);
  t.same(functions.filter((fn) => fn.defer_until_eot).map((fn) => fn.name).sort(), ['confirm_dose', 'log_symptom', 'request_help'], 'actions wait for the end of the turn');
  t.ok(functions.every((fn) => fn.endpoint === undefined), 'no endpoint: calls come to the client, which relays them');
  t.match(settings.agent.greeting, /^Hello Alice\./);

  // Refused: who may not act for the patient, an invalid body; nothing granted for them.
  const grants = deepgram.requests.length;
  t.equal((await as(hub, s.outsider, 'POST', '/voice/sessions', { patientId: s.patient.id })).status, 404);
  const invalid = await as(hub, s.caregiver, 'POST', '/voice/sessions', { patientId: 'alice' });
  t.equal(invalid.status, 400);
  t.match(invalid.headers.get('content-type'), /application\/problem\+json/);
  t.equal(deepgram.requests.length, grants);

  // Deepgram refusing, its one retry too: a 503 with Retry-After, and no session.
  deepgram.enqueue(deepgramReply.error(429, 'TOO_MANY_REQUESTS', 'Slow down'), deepgramReply.error(429, 'TOO_MANY_REQUESTS', 'Slow down'));
  const limited = await as(hub, s.caregiver, 'POST', '/voice/sessions', { patientId: s.patient.id });
  t.equal(limited.status, 503);
  t.equal(limited.body.detail, 'The voice provider is rate limited');
  t.equal(limited.headers.get('retry-after'), '5');
  t.notOk(JSON.stringify(limited.body).includes('Slow down'), 'the provider’s text stays out');
  t.equal(await hub.features.voice.models.VoiceSession.countDocuments(), 1);
});

t.test('function calls: run once each, in order, told to the care team', async (t) => {
  const { clock, hub, s } = await voiceHub(t);
  const session = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const watcher = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const intents: Array<Record<string, unknown>> = [];
  watcher.on('voice:intent', (intent: Record<string, unknown>) => intents.push(intent));
  const symptomTold = nextEventWhere(watcher, 'voice:intent', (intent) => intent.name === 'log_symptom');

  const relay = (body: unknown, who = s.patientUser) => as(hub, who, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, body);
  const message = {
    type: 'FunctionCallRequest',
    functions: [call('fc-1', 'confirm_dose', { medication: 'Metformin' }), call('fc-2', 'log_symptom', { symptom: 'nausea', severity: 'mild' })],
  };
  const first = await relay(message);
  t.equal(first.status, 200, JSON.stringify(first.body));
  t.ok(hub.context.schemas.check('http/voice-function-call-result', first.body).ok);
  t.same(first.body.responses.map((r: { type: string; id: string; name: string }) => [r.type, r.id, r.name]), [['FunctionCallResponse', 'fc-1', 'confirm_dose'], ['FunctionCallResponse', 'fc-2', 'log_symptom']]);
  t.match(JSON.parse(first.body.responses[0].content), { ok: true, alreadyRecorded: false, medication: 'Metformin', state: 'taken' });
  t.match(JSON.parse(first.body.responses[1].content), { ok: true, recorded: true });
  const [dose] = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  t.match(dose, { medicationId: 'metformin', state: 'taken', source: 'confirmation' });
  const reports = await as(hub, s.caregiver, 'GET', `/patients/${s.patient.id}/reports`);
  t.match(reports.body.items, [{ kind: 'symptom', symptom: { name: 'nausea' }, source: 'voice', sourceRef: session.sessionId }]);
  await symptomTold;
  t.match(intents, [
    { sessionId: session.sessionId, patientId: s.patient.id, userId: s.patientUser.userId, callId: 'fc-1', name: 'confirm_dose', ok: true, errorCode: null },
    { callId: 'fc-2', name: 'log_symptom', ok: true },
  ]);
  t.ok(intents.every((intent) => hub.context.schemas.check('socket/voice-intent', intent).ok), 'voice:intent follows its schema');

  // The same relay again (a response lost on the way back): the same answers, nothing run twice.
  const again = await relay(message);
  t.same(again.body, first.body);
  t.equal(await hub.features.reports.models.Report.countDocuments(), 1, 'one symptom recorded');
  t.equal(intents.length, 2, 'and told once');
  const reused = await relay({ type: 'FunctionCallRequest', functions: [call('fc-1', 'request_help', { urgency: 'routine', reason: 'x' })] });
  t.equal(reused.status, 422, 'a call id reused for another function');
  t.equal(reused.body.code, 'idempotency_key_reused');

  // A failing tool is answered, for the agent to say so: not an HTTP error.
  const wrong = await relay({ type: 'FunctionCallRequest', functions: [call('fc-3', 'confirm_dose', { medication: 'Aspirin' }), call('fc-4', 'get_next_dose', '{' as never)] });
  t.equal(wrong.status, 200);
  t.match(JSON.parse(wrong.body.responses[0].content), { ok: false, error: { code: 'validation_failed', message: /The plan lists/ } });
  t.match(JSON.parse(wrong.body.responses[1].content), { ok: false, error: { code: 'invalid_arguments' } });

  // Refused: an invalid message, someone else relaying into the session, a session that has ended.
  for (const body of [{ type: 'Settings', functions: [] }, { type: 'FunctionCallRequest', functions: [] }, { type: 'FunctionCallRequest', functions: [{ id: 'x', name: 'confirm_dose', arguments: { medication: 'Metformin' } }] }]) {
    const refused = await relay(body);
    t.equal(refused.status, 400, JSON.stringify(body));
    t.equal(refused.body.code, 'validation_failed');
  }
  t.equal((await relay({ type: 'FunctionCallRequest', functions: [call('fc-9', 'get_next_dose', {})] }, s.caregiver)).status, 404, 'only the session’s user relays into it');
  clock.advance(61 * 60_000);
  const ended = await relay({ type: 'FunctionCallRequest', functions: [call('fc-10', 'get_next_dose', {})] });
  t.equal(ended.status, 410);
  t.equal(ended.body.code, 'gone');
});

t.test('without DEEPGRAM_API_KEY: 503, clearly, and the hub runs on', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const refused = await request(hub, 'POST', '/api/v1/voice/sessions', { token: s.caregiver.token, body: { patientId: s.patient.id } });
  t.equal(refused.status, 503);
  t.match(refused.body, { code: 'unavailable', detail: /DEEPGRAM_API_KEY/ });
  t.equal((await request(hub, 'POST', '/api/v1/voice/sessions', { token: s.outsider.token, body: { patientId: s.patient.id } })).status, 404, 'access is checked first');
  t.equal((await request(hub, 'GET', '/health')).status, 200);
});

t.test('the same call relayed twice at once runs once; a claim a stopped hub left is taken over', async (t) => {
  const { clock, hub, s } = await voiceHub(t);
  const session = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const relay = (body: unknown) => as(hub, s.patientUser, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, body);
  const help = { type: 'FunctionCallRequest', functions: [call('fc-help', 'request_help', { urgency: 'urgent', reason: 'I feel faint and alone' })] };
  const [one, two] = await Promise.all([relay(help), relay(help)]);
  t.equal(one.status, 200);
  t.same(two.body, one.body, 'both relays get the one answer');
  t.equal(await hub.features.reports.models.Report.countDocuments({ kind: 'help' }), 1, 'one help request');

  // A hub stopped while running fc-stale: its claim is left `running`.
  const { VoiceCall } = hub.features.voice.models;
  await VoiceCall.create({ sessionId: session.sessionId, callId: 'fc-stale', name: 'get_next_dose', arguments: '{}', status: 'running', claimedAt: clock.now(), claimToken: 'a-stopped-hub' });
  const stale = { type: 'FunctionCallRequest', functions: [call('fc-stale', 'get_next_dose', {})] };
  // Past CLAIM_STALE_MS, a relay of it takes the call over and runs it.
  clock.advance(31_000);
  const taken = await relay(stale);
  t.equal(taken.status, 200);
  t.match(JSON.parse(taken.body.responses[0].content), { ok: true, recorded: true, doses: [{ medication: 'Metformin' }] });
  t.match(await VoiceCall.findOne({ callId: 'fc-stale' }).lean(), { status: 'done', ok: true });
});

t.test('relaying again is harmless: after the session ended, over a stopped hub’s claim, with Deepgram’s extra fields', async (t) => {
  const { clock, hub, s } = await voiceHub(t);
  // An Idempotency-Key does not replay a session: its token lives seconds.
  const headers = { 'Idempotency-Key': 'voice-start-1' };
  const first = await request(hub, 'POST', '/api/v1/voice/sessions', { token: await currentToken(hub, s.patientUser), headers, body: { patientId: s.patient.id } });
  const second = await request(hub, 'POST', '/api/v1/voice/sessions', { token: await currentToken(hub, s.patientUser), headers, body: { patientId: s.patient.id } });
  t.equal(second.status, 201);
  t.not(second.body.token.accessToken, first.body.token.accessToken, 'a fresh token each time');
  const session = second.body;
  const relay = (body: unknown) => as(hub, s.patientUser, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, body);

  // A stopped hub had stored the symptom of fc-stale but not finished the call: its claim is left running.
  const { VoiceCall } = hub.features.voice.models;
  const { Report } = hub.features.reports.models;
  const symptom = { symptom: 'headache', severity: 'mild' };
  await VoiceCall.create({ sessionId: session.sessionId, callId: 'fc-stale', name: 'log_symptom', arguments: JSON.stringify(symptom), status: 'running', claimedAt: clock.now(), claimToken: 'a-stopped-hub' });
  await relay({ type: 'FunctionCallRequest', functions: [call('fc-before', 'log_symptom', symptom)] });
  const stored = await Report.findOne({ sourceRef: session.sessionId }).lean();
  await Report.updateOne({ _id: stored?._id }, { $set: { originKey: `voice:${session.sessionId}:fc-stale` } });
  clock.advance(31_000);
  const taken = await relay({ type: 'FunctionCallRequest', functions: [{ ...call('fc-stale', 'log_symptom', symptom), thought_signature: 'sig' }] });
  t.equal(taken.status, 200, 'Deepgram’s other fields are accepted');
  t.match(JSON.parse(taken.body.responses[0].content), { ok: true, reportId: String(stored?._id) }, 'run again, the call finds the symptom it had stored');
  t.equal(await Report.countDocuments(), 1, 'and stores it once');

  // A function Deepgram runs itself is refused, not run.
  const serverSide = await relay({ type: 'FunctionCallRequest', functions: [{ ...call('fc-server', 'log_symptom', symptom), client_side: false }] });
  t.match(JSON.parse(serverSide.body.responses[0].content), { ok: false, error: { code: 'not_client_side' } });
  t.equal(await Report.countDocuments(), 1);

  // After the end: what ran is still answered (its response may have been lost); nothing new runs.
  clock.advance(61 * 60_000);
  const late = await relay({ type: 'FunctionCallRequest', functions: [call('fc-stale', 'log_symptom', symptom)] });
  t.equal(late.status, 200);
  t.same(late.body, taken.body);
  t.equal((await relay({ type: 'FunctionCallRequest', functions: [call('fc-stale', 'log_symptom', symptom), call('fc-new', 'get_next_dose', {})] })).status, 410);
  await VoiceCall.create({ sessionId: session.sessionId, callId: 'fc-running', name: 'get_next_dose', arguments: '{}', status: 'running', claimedAt: clock.now(), claimToken: 'another-relay' });
  const running = await relay({ type: 'FunctionCallRequest', functions: [call('fc-running', 'get_next_dose', {})] });
  t.equal(running.status, 409, 'one still running at the end: relay it again shortly');
  t.equal(running.headers.get('retry-after'), '1');
});

t.test('confirm_dose by voice and by the app at once: both succeed, the dose is taken once', async (t) => {
  const { clock, hub, s } = await voiceHub(t);
  const session = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const [dose] = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  const [byVoice, byApp] = await Promise.all([
    as(hub, s.patientUser, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, { type: 'FunctionCallRequest', functions: [call('fc-1', 'confirm_dose', { medication: 'Metformin' })] }),
    as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${dose?.id}/confirm`, {}),
  ]);
  t.equal(byApp.status, 200);
  t.match(JSON.parse(byVoice.body.responses[0].content), { ok: true, recorded: true, occurrence_id: dose?.id, state: 'taken' });
  t.match((await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z'))[0], { state: 'taken' });

  const old = await as(hub, s.patientUser, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, { type: 'FunctionCallRequest', functions: [call('fc-2', 'confirm_dose', { medication: 'Warfarin', taken_at: '2026-06-08T20:00:00+02:00' })] });
  t.match(JSON.parse(old.body.responses[0].content), { ok: false, error: { code: 'validation_failed', message: /more than 24 hours ago/ } }, 'a dose taken days ago is not confirmed by name');

  // Two days later, not by its id either: the Warfarin dose of the 10th, missed.
  clock.set('2026-06-12T06:05:00Z');
  const session2 = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const warfarin = (await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z')).find((d) => d.medicationId === 'warfarin');
  const byId = await as(hub, s.patientUser, 'POST', `/voice/sessions/${session2.sessionId}/function-calls`, { type: 'FunctionCallRequest', functions: [call('fc-3', 'confirm_dose', { medication: 'Warfarin', occurrence_id: warfarin?.id })] });
  t.match(JSON.parse(byId.body.responses[0].content), { ok: false, error: { code: 'validation_failed', message: /due more than 24 hours ago/ } });
  t.not((await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z')).find((d) => d.medicationId === 'warfarin')?.state, 'late');
});

t.test('over Socket.IO: voice:function_call relays as the REST route does, acked', async (t) => {
  const { hub, s } = await voiceHub(t);
  const session = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const socket = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.patientUser) } });
  await nextEvent(socket, 'connect');
  const request = { type: 'FunctionCallRequest', functions: [call('fc-s1', 'get_next_dose', { medication: 'metformin' })] };
  const ack = await socket.timeout(5000).emitWithAck('voice:function_call', { sessionId: session.sessionId, request });
  t.match(ack, { ok: true, responses: [{ type: 'FunctionCallResponse', id: 'fc-s1', name: 'get_next_dose' }] });
  t.match(JSON.parse(ack.responses[0].content), { ok: true, doses: [{ medication: 'Metformin' }] });
  const again = await as(hub, s.patientUser, 'POST', `/voice/sessions/${session.sessionId}/function-calls`, request);
  t.same(again.body.responses, ack.responses, 'the same call relayed over HTTP: the same answer');

  const invalid = await socket.timeout(5000).emitWithAck('voice:function_call', { sessionId: session.sessionId, request: { type: 'FunctionCallRequest', functions: 'fc' } });
  t.match(invalid, { ok: false, error: { code: 'validation_failed' } });
  const stranger = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(stranger, 'connect');
  t.match(await stranger.timeout(5000).emitWithAck('voice:function_call', { sessionId: session.sessionId, request }), { ok: false, error: { code: 'not_found' } }, 'another user’s session');
});

t.test('the transcript: kept in the session’s conversation, each line once, readable by the care team', async (t) => {
  const { clock, hub, s } = await voiceHub(t);
  const session = (await as(hub, s.patientUser, 'POST', '/voice/sessions', { patientId: s.patient.id })).body;
  const conversation = await as(hub, s.caregiver, 'GET', `/conversations/${session.conversationId}`);
  t.match(conversation.body, { id: session.conversationId, patientId: s.patient.id, channel: 'voice' }, 'a voice conversation, visible to the care team');

  const send = (lines: unknown, who = s.patientUser) => as(hub, who, 'POST', `/voice/sessions/${session.sessionId}/transcript`, { lines });
  const first = await send([
    { seq: 1, type: 'ConversationText', role: 'user', content: 'I took my metformin' },
    { seq: 0, type: 'ConversationText', role: 'assistant', content: 'Hello Alice.' },
  ]);
  t.same(first.body, { stored: 2, next: 2, conversationId: session.conversationId });
  const again = await send([{ seq: 1, role: 'user', content: 'I took my metformin' }, { seq: 2, role: 'assistant', content: 'Recorded.' }]);
  t.same(again.body, { stored: 1, next: 3, conversationId: session.conversationId }, 'a line sent again is stored once');
  const gap = await send([{ seq: 5, role: 'user', content: 'Thank you' }]);
  t.equal(gap.status, 409, 'a batch that would leave a gap is refused: the transcript never reads out of order');
  t.match(gap.body, { code: 'conflict', detail: /Line 3 is missing/ });

  const messages = await as(hub, s.caregiver, 'GET', `/conversations/${session.conversationId}/messages`);
  t.same(messages.body.items.map((m: { role: string; content: string }) => [m.role, m.content]).reverse(), [['assistant', 'Hello Alice.'], ['user', 'I took my metformin'], ['assistant', 'Recorded.']], 'in the order said');
  t.match(messages.body.items.at(-2), { authorId: s.patientUser.userId, status: 'complete' });
  t.match(messages.body.items.at(-1), { authorId: null, provider: 'deepgram' });
  t.equal((await as(hub, s.caregiver, 'GET', `/conversations/${session.conversationId}`)).body.messageCount, 3);

  for (const lines of [[], [{ seq: -1, role: 'user', content: 'x' }], [{ seq: 3, role: 'system', content: 'x' }], [{ seq: 3, role: 'user', content: '' }]]) {
    t.equal((await send(lines)).status, 400, JSON.stringify(lines));
  }
  t.equal((await send([{ seq: 9, role: 'user', content: 'x' }], s.caregiver)).status, 404, 'only the session’s user');
  clock.advance(71 * 60_000);
  t.equal((await send([{ seq: 9, role: 'user', content: 'x' }])).status, 410, 'closed 10 minutes after the session ends');
  t.equal((await as(hub, s.caregiver, 'GET', `/conversations/${session.conversationId}`)).body.messageCount, 3);
});
