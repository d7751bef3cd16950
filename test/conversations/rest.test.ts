/**
 * Conversations over REST with no OPENAI_API_KEY: the offline assistant answers, labelled; access
 * follows the policy (404 for what one may not see, 403 for too low a level); every read and write
 * is audited; messages page newest first.
 */
import t from 'tap';
import { createDoseFacts } from '../../src/features/doses/facts.js';
import { request } from '../helpers/clients.js';
import { careScenario } from '../helpers/factories.js';
import { storeCommandsDuring } from '../helpers/hub.js';
import { chatStream, createConversation, schemaProblems, startChatHub, type ChatHub, type Scenario } from './helpers.js';

let hub: ChatHub;
let s: Scenario;
t.before(async () => {
  hub = await startChatHub(t);
  s = await careScenario(hub);
});

t.test('create, read and list conversations, scoped by the policy', async (t) => {
  const created = await request(hub, 'POST', '/api/v1/conversations', { token: s.caregiver.token, body: { patientId: s.patient.id, title: 'Evening doses' } });
  t.equal(created.status, 201);
  t.same(schemaProblems(hub, 'http/conversation-view', created.body), [], 'matches its schema');
  t.match(created.body, { patientId: s.patient.id, title: 'Evening doses', channel: 'app', createdBy: s.caregiver.userId, participants: [s.caregiver.userId], messageCount: 0, lastMessageAt: null });

  const voice = await createConversation(hub, s.patientUser, s.patient.id, { channel: 'voice' });
  t.equal(voice.channel, 'voice');

  t.equal((await request(hub, 'POST', '/api/v1/conversations', { token: s.outsider.token, body: { patientId: s.patient.id } })).status, 404, 'off the care team: the patient does not exist');
  t.equal((await request(hub, 'POST', '/api/v1/conversations', { token: s.caregiver.token, body: { patientId: s.otherPatient.id } })).status, 404);
  const invalid = await request(hub, 'POST', '/api/v1/conversations', { token: s.caregiver.token, body: { patientId: s.patient.id, channel: 'fax', role: 'admin' } });
  t.equal(invalid.status, 400);
  t.equal((await request(hub, 'POST', '/api/v1/conversations', { body: { patientId: s.patient.id } })).status, 401);

  const mine = await request(hub, 'GET', `/api/v1/conversations?patientId=${s.patient.id}`, { token: s.caregiver.token });
  t.equal(mine.status, 200);
  t.same(mine.body.items.map((c: { id: string }) => c.id), [voice.id, created.body.id], 'newest first');
  const all = await request(hub, 'GET', '/api/v1/conversations', { token: s.clinician.token });
  t.ok(all.body.items.length >= 2, 'staff see the organisation’s conversations');
  const outsiderList = await request(hub, 'GET', '/api/v1/conversations', { token: s.outsider.token });
  t.same(outsiderList.body, { items: [], nextCursor: null }, 'a caregiver off the team lists nothing');
  t.equal((await request(hub, 'GET', `/api/v1/conversations?patientId=${s.patient.id}`, { token: s.outsider.token })).status, 404);

  const page1 = await request(hub, 'GET', `/api/v1/conversations?patientId=${s.patient.id}&limit=1`, { token: s.caregiver.token });
  t.equal(page1.body.items.length, 1);
  const page2 = await request(hub, 'GET', `/api/v1/conversations?patientId=${s.patient.id}&limit=1&cursor=${page1.body.nextCursor}`, { token: s.caregiver.token });
  t.equal(page2.body.items[0].id, created.body.id, 'the cursor gives the next page');

  t.equal((await request(hub, 'GET', `/api/v1/conversations/${created.body.id}`, { token: s.patientUser.token })).status, 200);
  t.equal((await request(hub, 'GET', `/api/v1/conversations/${created.body.id}`, { token: s.outsider.token })).status, 404);
  t.equal((await request(hub, 'GET', `/api/v1/conversations/${created.body.id}/messages`, { token: s.outsider.token })).status, 404);
  t.equal((await request(hub, 'GET', `/api/v1/conversations/nope/messages`, { token: s.caregiver.token })).status, 400);

  const audit = await request(hub, 'GET', '/api/v1/audit?limit=200', { token: s.admin.token });
  const actions = audit.body.items.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`);
  t.ok(actions.includes('conversation.create:allowed') && actions.includes('conversation.create:denied'), 'creation is audited, denials too');
  t.ok(actions.includes('conversation.list:allowed') && actions.includes('conversation.messages.read:denied'), 'reads are audited');
});

t.test('without an API key the offline assistant answers, labelled, and the answer is stored', async (t) => {
  const conversation = await createConversation(hub, s.patientUser, s.patient.id);
  const reply = await request(hub, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId: conversation.id, content: 'When is my next dose?' } });
  t.equal(reply.status, 200);
  const { userMessage, message } = reply.body;
  t.same(schemaProblems(hub, 'http/chat-message-view', message), []);
  t.match(userMessage, { role: 'user', content: 'When is my next dose?', status: 'complete', authorId: s.patientUser.userId });
  t.match(message, { role: 'assistant', status: 'complete', offline: true, provider: 'offline', model: 'medhub-offline-1', replyTo: userMessage.id });
  t.match(message.content, /^\(Offline assistant\) /, 'labelled as offline');
  t.match(message.content, /medication plan/, 'says honestly that no plan is recorded');
  t.ok(message.tokens > 3, 'streamed word by word');
  t.ok(message.timing.firstTokenMs >= 0 && message.timing.totalMs >= message.timing.firstTokenMs);

  const streamed = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'Hello' });
  t.same([streamed.events[0]?.event, streamed.events.at(-1)?.event], ['session_established', 'complete']);
  t.equal(streamed.events[0]?.data.offline, true);
  t.match(streamed.events.at(-1)?.data.message.content, /^\(Offline assistant\) Hello\./, 'answers a greeting');

  const symptom = await request(hub, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId: conversation.id, content: 'I have a headache' } });
  t.match(symptom.body.message.content, /I've noted the headache for your care team/, 'the offline assistant records a symptom through log_symptom');
  t.match(symptom.body.message.toolCalls, [{ name: 'log_symptom', ok: true }]);
  const reports = await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports`, { token: s.caregiver.token });
  t.match(reports.body.items, [{ kind: 'symptom', symptom: { name: 'headache', severity: 'moderate' }, reportedBy: { userId: s.patientUser.userId, role: 'patient' }, source: 'chat', sourceRef: conversation.id }], 'the care team sees it, with the conversation it came from');

  const messages = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}/messages`, { token: s.caregiver.token });
  t.equal(messages.status, 200);
  t.same(
    messages.body.items.map((m: { role: string }) => m.role),
    ['assistant', 'user', 'assistant', 'user', 'assistant', 'user'],
    'newest first',
  );
  for (const item of messages.body.items) t.same(schemaProblems(hub, 'http/chat-message-view', item), []);
  const updated = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}`, { token: s.caregiver.token });
  t.equal(updated.body.messageCount, 6);
  t.same([...updated.body.participants].sort(), [s.patientUser.userId, s.caregiver.userId].sort(), 'whoever wrote is a participant, once');
});

t.test('chat/message: validation and access', async (t) => {
  const conversation = await createConversation(hub, s.clinician, s.patient.id);
  const empty = await request(hub, 'POST', '/api/v1/chat/message', { token: s.clinician.token, body: { conversationId: conversation.id, content: '   ' } });
  t.equal(empty.status, 400);
  const long = await request(hub, 'POST', '/api/v1/chat/message', { token: s.clinician.token, body: { conversationId: conversation.id, content: 'x'.repeat(4001) } });
  t.equal(long.status, 400);
  const outsider = await chatStream(hub, s.outsider.token, { conversationId: conversation.id, content: 'hi' });
  t.equal(outsider.status, 404, 'refused before the stream opens: a problem, not an event stream');
  t.equal(outsider.problem?.code, 'not_found');
  const unknown = await request(hub, 'POST', '/api/v1/chat/message', { token: s.clinician.token, body: { conversationId: '0123456789abcdef01234567', content: 'hi' } });
  t.equal(unknown.status, 404);
});

t.test('answers left streaming by a stopped hub are marked interrupted; metrics count turns', async (t) => {
  const conversation = await createConversation(hub, s.clinician, s.patient.id);
  const { Message } = hub.features.conversations.models;
  const old = new Date(Date.now() - 10 * 60_000);
  const orphan = await Message.create({
    conversationId: conversation.id,
    organisationId: conversation.organisationId,
    patientId: conversation.patientId,
    role: 'assistant',
    status: 'streaming',
    content: 'Half an ans',
    tokens: 3,
    activityAt: old,
  });
  const recent = await Message.create({ conversationId: conversation.id, organisationId: conversation.organisationId, patientId: conversation.patientId, role: 'assistant', status: 'streaming', activityAt: new Date() });
  t.equal(await hub.features.conversations.chat.sweepInterrupted(), 1, 'only the stale one');
  const swept = await Message.findById(orphan._id).lean();
  t.match(swept, { status: 'error', content: 'Half an ans', error: { code: 'interrupted' } });
  t.equal((await Message.findById(recent._id).lean())?.status, 'streaming');

  const metrics = await fetch(`${hub.urls.http}/metrics`).then((response) => response.text());
  t.match(metrics, /medhub_chat_turns_total\{provider="offline",status="complete"\} [1-9]/);
  t.match(metrics, /medhub_chat_first_token_seconds_count\{provider="offline"\} [1-9]/);
});

t.test('the assistant knows the patient’s plan, next doses and adherence from the doses feature', async (t) => {
  const own = await startChatHub(t);
  const s = await careScenario(own);
  const yesterday = new Date(Date.now() - 86_400_000).toLocaleDateString('en-CA', { timeZone: 'Europe/Paris' });
  const plan = {
    medications: [{ id: 'metformin', name: 'Metformin', strength: '500 mg', instructions: 'with food', slot: 1, pillsPerDose: 1 }],
    schedule: [{ id: 'm', medicationId: 'metformin', times: ['08:00', '20:00'], startDate: yesterday }],
  };
  const created = await request(own, 'POST', `/api/v1/patients/${s.patient.id}/medication-plans`, { token: s.clinician.token, body: plan });
  t.equal(created.status, 201);

  const conversation = await createConversation(own, s.patientUser, s.patient.id);
  const reply = await request(own, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId: conversation.id, content: 'When is my next dose?' } });
  t.equal(reply.status, 200);
  t.match(reply.body.message.content, /Metformin/, 'the answer names the medication of the plan');
  t.notMatch(reply.body.message.content, /no medication plan/i, 'instead of saying none is recorded');

  // The facts themselves, as the hub wired them: the plan, what is still to take, and adherence.
  const facts = createDoseFacts(own.features.doses.models);
  const patient = { id: s.patient.id, organisationId: s.admin.organisationId, timeZone: 'Europe/Paris' };
  t.same(await facts.plan(patient), [{ id: 'metformin', name: 'Metformin', times: ['08:00', '20:00'], strength: '500 mg', instructions: 'with food' }]);
  const upcoming = await facts.upcomingDoses(patient, new Date(), 3);
  t.equal(upcoming.length, 3);
  const reads = await storeCommandsDuring(own, () => Promise.all([facts.plan(patient), facts.upcomingDoses(patient, new Date(), 3)]));
  t.equal(reads.filter(({ command, collection }) => command === 'find' && collection === own.features.doses.models.Plan.collection.collectionName).length, 1, 'a chat message’s plan and doses to come read the plan once');
  t.ok(upcoming.every((dose) => dose.medicationName === 'Metformin' && Date.parse(dose.dueAt) > Date.now() - 3_600_000), 'doses still to take, soonest first');
  // Yesterday's doses, as the sweep and the dispenser would have left them (occurrences are generated from now on).
  const { Occurrence } = own.features.doses.models;
  const template = await Occurrence.findOne({ patientId: s.patient.id }).lean();
  const { _id: _ignored, ...rest } = template as NonNullable<typeof template>;
  await Occurrence.insertMany([
    { ...rest, localDate: yesterday, dueAt: new Date(Date.now() - 30 * 3_600_000), state: 'taken' },
    { ...rest, localDate: yesterday, dueAt: new Date(Date.now() - 20 * 3_600_000), state: 'unknown' },
  ]);
  t.same(await facts.adherence(patient, 'yesterday', new Date()), { period: 'yesterday', scheduled: 2, taken: 1, missed: 0, unknown: 1 }, 'yesterday: one taken, one unknown (never called missed)');
  t.same(await facts.adherence(patient, 'yesterday', new Date(), 'aspirin'), { period: 'yesterday', scheduled: 0, taken: 0, missed: 0, unknown: 0 }, 'a medication not in the plan has no doses');
  const outsider = { ...patient, organisationId: '0'.repeat(24) };
  t.equal(await facts.plan(outsider), null, 'read within the patient’s organisation only');
});
