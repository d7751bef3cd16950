/**
 * Chat over Socket.IO with real clients: chat:send acked with ids, the answer fanned out in order to
 * every authorised watcher of conversation:{id} (and to nobody else), chat:cancel, and a socket that
 * joins (or comes back) mid-answer catching up from the join snapshot and REST.
 */
import t from 'tap';
import type { Socket } from 'socket.io-client';
import { connectSocket, nextEvent, request, type AnyBody } from '../helpers/clients.js';
import type { Login } from '../helpers/factories.js';
import { reply, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { collectAnswer, createConversation, eventually, schemaProblems, startChatFixture, type ChatHub, type Scenario } from './helpers.js';

let server: FakeOpenAIServer;
let hub: ChatHub;
let s: Scenario;
t.before(async () => {
  ({ server, hub, s } = await startChatFixture(t));
});

async function connect(t: Parameters<typeof connectSocket>[0], who: Login): Promise<Socket> {
  const socket = connectSocket(t, hub, { auth: { token: who.token } });
  await nextEvent(socket, 'connect');
  return socket;
}

const ANSWER = 'Your medication plan is not recorded yet, so I cannot name your next dose. Please ask your care team to add it, and I will keep you on track from then on.';

t.test('chat:send streams the answer in order to every authorised watcher', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const [sender, clinician, patient, outsider] = await Promise.all([connect(t, s.caregiver), connect(t, s.clinician), connect(t, s.patientUser), connect(t, s.outsider)]);

  for (const watcher of [clinician, patient]) {
    const joined = await watcher.emitWithAck('conversation:join', { conversationId: conversation.id });
    t.match(joined, { ok: true, room: `conversation:${conversation.id}`, conversation: { id: conversation.id }, streaming: null });
  }
  const denied = await outsider.emitWithAck('conversation:join', { conversationId: conversation.id });
  t.same(denied, { ok: false, error: { code: 'not_found', message: 'Conversation not found' } }, 'a caregiver off the team may not watch');
  let outsiderHeard = 0;
  outsider.onAny(() => void (outsiderHeard += 1));

  server.enqueue(reply.text(ANSWER));
  const answers = [sender, clinician, patient].map((socket) => collectAnswer(socket));
  const ack = await sender.emitWithAck('chat:send', { conversationId: conversation.id, content: 'What is my next dose?' });
  t.match(ack, { ok: true, conversationId: conversation.id, userMessageId: /^[a-f0-9]{24}$/, messageId: /^[a-f0-9]{24}$/ });

  const words = ANSWER.match(/\s*\S+/g) ?? [];
  for (const [i, answer] of (await Promise.all(answers)).entries()) {
    const who = ['sender', 'clinician', 'patient'][i];
    t.equal(answer.started?.messageId, ack.messageId, `${who}: chat:started names the answer`);
    t.same(schemaProblems(hub, 'socket/chat-started', answer.started), []);
    t.same(answer.tokens.map((tk) => tk.index), [...words.keys()], `${who}: every token, in order`);
    t.same(answer.tokens.map((tk) => tk.delta), words);
    t.ok(answer.tokens.every((tk) => schemaProblems(hub, 'socket/chat-token', tk).length === 0));
    t.equal(answer.end.event, 'chat:complete');
    t.same(schemaProblems(hub, 'socket/chat-complete', answer.end.payload), []);
    t.match(answer.end.payload.message, { id: ack.messageId, status: 'complete', content: ANSWER, tokens: words.length });
  }
  t.equal(outsiderHeard, 0, 'the outsider heard nothing');

  const invalid = await sender.emitWithAck('chat:send', { conversationId: conversation.id });
  t.match(invalid, { ok: false, error: { code: 'validation_failed' } });
  const intruder = await outsider.emitWithAck('chat:send', { conversationId: conversation.id, content: 'hi' });
  t.match(intruder, { ok: false, error: { code: 'not_found' } });
  const left = await patient.emitWithAck('conversation:leave', { conversationId: conversation.id });
  t.same(left, { ok: true, room: `conversation:${conversation.id}` });
});

t.test('chat:cancel stops the answer for everyone and closes the upstream request', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const [sender, clinician, outsider] = await Promise.all([connect(t, s.caregiver), connect(t, s.clinician), connect(t, s.outsider)]);
  await clinician.emitWithAck('conversation:join', { conversationId: conversation.id });
  server.enqueue(reply.hang('I am looking that up'));
  const index = server.requests.length;
  const answers = [sender, clinician].map((socket) => collectAnswer(socket));
  const sent = await sender.emitWithAck('chat:send', { conversationId: conversation.id, content: 'next dose?' });
  await server.request(index);
  await eventually(async () => (await hub.features.conversations.chat.snapshot(conversation.id))?.tokens === 5);

  const refused = await outsider.emitWithAck('chat:cancel', { conversationId: conversation.id });
  t.match(refused, { ok: false, error: { code: 'not_found' } });
  const other = await clinician.emitWithAck('chat:cancel', { conversationId: conversation.id, messageId: sent.userMessageId });
  t.same(other, { ok: true, cancelled: false, messageId: null }, 'naming another message cancels nothing');
  const cancelled = await clinician.emitWithAck('chat:cancel', { conversationId: conversation.id, messageId: sent.messageId });
  t.same(cancelled, { ok: true, cancelled: true, messageId: sent.messageId });

  for (const answer of await Promise.all(answers)) {
    t.equal(answer.tokens.length, 5);
    t.equal(answer.end.event, 'chat:error');
    t.same(schemaProblems(hub, 'socket/chat-error', answer.end.payload), []);
    t.match(answer.end.payload, { messageId: sent.messageId, error: { code: 'cancelled', retryable: false }, message: { status: 'cancelled', content: 'I am looking that up' } });
  }
  const upstream = await server.request(index);
  await upstream.closed;
  t.ok(upstream.closedBeforeEnd, 'the upstream request was closed');
  const again = await clinician.emitWithAck('chat:cancel', { conversationId: conversation.id });
  t.same(again, { ok: true, cancelled: false, messageId: null }, 'nothing left to cancel');
});

t.test('a socket that joins mid-answer, or comes back, catches up without gaps', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const sender = await connect(t, s.caregiver);
  server.enqueue(reply.text(ANSWER, { pauseMs: 15 }));
  const done = collectAnswer(sender, 10_000);
  const sent = await sender.emitWithAck('chat:send', { conversationId: conversation.id, content: 'next dose?' });
  await eventually(async () => ((await hub.features.conversations.chat.snapshot(conversation.id))?.tokens ?? 0) >= 6);

  // Join mid-answer: tokens may arrive before the ack; keep those at or after the snapshot's `tokens`.
  const late = await connect(t, s.patientUser);
  const heard: AnyBody[] = [];
  late.on('chat:token', (token: AnyBody) => heard.push(token));
  const ended = nextEvent<AnyBody>(late, 'chat:complete', 10_000);
  const joined = await late.emitWithAck('conversation:join', { conversationId: conversation.id });
  t.match(joined, { ok: true, streaming: { messageId: sent.messageId } });
  t.ok(joined.streaming.tokens >= 6, 'the snapshot holds the text so far');
  const complete = await ended;
  const caughtUp = joined.streaming.content + heard.filter((tk) => tk.index >= joined.streaming.tokens).map((tk) => tk.delta).join('');
  t.equal(caughtUp, ANSWER, 'snapshot + later tokens = the whole answer');
  t.equal(complete.message.content, ANSWER);
  await done;

  // Come back after the answer ended: REST has it.
  const page = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}/messages?limit=1`, { token: s.patientUser.token });
  t.match(page.body.items[0], { id: sent.messageId, status: 'complete', content: ANSWER });
  const rejoined = await late.emitWithAck('conversation:join', { conversationId: conversation.id });
  t.equal(rejoined.streaming, null, 'nothing streaming any more');
});

t.test('a stored streaming answer is visible to REST while it grows', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const sender = await connect(t, s.caregiver);
  server.enqueue(reply.hang('Looking it up now for you'));
  const index = server.requests.length;
  const sent = await sender.emitWithAck('chat:send', { conversationId: conversation.id, content: 'next dose?' });
  await server.request(index);
  // The answer is saved about once a second while it streams.
  const saved = await eventually(async () => {
    const page = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}/messages?limit=1`, { token: s.caregiver.token });
    const item = page.body.items[0];
    return item?.status === 'streaming' && item.tokens > 0 && item;
  }, 4000);
  t.match(saved, { id: sent.messageId, status: 'streaming', content: 'Looking it up now for you' });
  sender.disconnect();
  t.equal((await request(hub, 'GET', `/api/v1/conversations/${conversation.id}`, { token: s.caregiver.token })).status, 200);
  t.equal(hub.features.conversations.chat.activeCount, 1, 'the sender leaving does not cancel the answer');
  const canceller = await connect(t, s.caregiver);
  t.match(await canceller.emitWithAck('chat:cancel', { conversationId: conversation.id }), { ok: true, cancelled: true });
  await eventually(async () => hub.features.conversations.chat.activeCount === 0);
});

t.test('an answer left streaming by a stopped hub: joiners are not told it streams, watchers get chat:error when it is swept', async (t) => {
  const { Message } = hub.features.conversations.models;
  const leftBehind = async (conversation: AnyBody, activityAt: Date) =>
    Message.create({ conversationId: conversation.id, organisationId: conversation.organisationId, patientId: conversation.patientId, role: 'assistant', status: 'streaming', content: 'Half an ans', tokens: 3, activityAt });
  // A hub stopped ten minutes ago in the middle of this answer…
  const stopped = await createConversation(hub, s.caregiver, s.patient.id);
  const orphan = await leftBehind(stopped, new Date(Date.now() - 10 * 60_000));
  // …and another instance is writing this one (saved a moment ago).
  const elsewhere = await createConversation(hub, s.caregiver, s.patient.id);
  const alive = await leftBehind(elsewhere, new Date());

  const [watcher, other] = await Promise.all([connect(t, s.clinician), connect(t, s.patientUser)]);
  const joined = await watcher.emitWithAck('conversation:join', { conversationId: stopped.id });
  t.match(joined, { ok: true, streaming: null }, 'a dead answer is not reported as streaming (nothing would ever end it)');
  const joinedElsewhere = await other.emitWithAck('conversation:join', { conversationId: elsewhere.id });
  t.match(joinedElsewhere, { ok: true, streaming: { messageId: String(alive._id), content: 'Half an ans', tokens: 3 } }, 'an answer still saved recently is, as last saved');
  let otherErrors = 0;
  other.on('chat:error', () => void (otherErrors += 1));

  const ended = nextEvent<AnyBody>(watcher, 'chat:error');
  t.equal(await hub.features.conversations.chat.sweepInterrupted(), 1);
  const event = await ended;
  t.same(schemaProblems(hub, 'socket/chat-error', event), []);
  t.match(event, {
    conversationId: stopped.id,
    messageId: String(orphan._id),
    error: { code: 'interrupted', retryable: true },
    message: { id: String(orphan._id), status: 'error', content: 'Half an ans', tokens: 3, error: { code: 'interrupted' } },
  });
  t.match(await Message.findById(orphan._id).lean(), { status: 'error', error: { code: 'interrupted' } });
  t.equal(await hub.features.conversations.chat.sweepInterrupted(), 0, 'swept once');
  t.equal((await Message.findById(alive._id).lean())?.status, 'streaming', 'the live one is left alone');
  t.equal(otherErrors, 0, 'and its watchers are told nothing');
});
