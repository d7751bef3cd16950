/**
 * Chat on two hub instances behind a load balancer (one database, one Redis): one answer at a time
 * per conversation whichever instance is asked, chat:cancel reaching the instance that writes the
 * answer, and an answer that goes quiet kept alive, so that another instance's interrupted-answer
 * sweep leaves it alone and its joiners are told it streams.
 */
import t from 'tap';
import { Types } from 'mongoose';
import type { Socket } from 'socket.io-client';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, request } from '../helpers/clients.js';
import type { Login } from '../helpers/factories.js';
import { reply } from '../fakes/openai-server.js';
import { collectAnswer, createConversation, eventually, startChatPair } from './helpers.js';

const MINUTE = 60_000;

async function connect(t: Parameters<typeof connectSocket>[0], hub: Hub, who: Login): Promise<Socket> {
  const socket = connectSocket(t, hub, { auth: { token: who.token } });
  await nextEvent(socket, 'connect');
  return socket;
}

t.test('one answer at a time across instances, and chat:cancel on one stops the answer the other writes', async (t) => {
  const { server, a, b, s } = await startChatPair(t);
  const conversation = await createConversation(a, s.caregiver, s.patient.id);
  const conversationId = conversation.id as string;
  const [senderOnA, watcherOnB] = await Promise.all([connect(t, a, s.caregiver), connect(t, b, s.clinician)]);
  t.match(await watcherOnB.emitWithAck('conversation:join', { conversationId }), { ok: true });

  server.enqueue(reply.hang('Looking that up'));
  const index = server.requests.length;
  const watched = collectAnswer(watcherOnB);
  const sent = await senderOnA.emitWithAck('chat:send', { conversationId, content: 'next dose?' });
  t.match(sent, { ok: true, messageId: /^[a-f0-9]{24}$/ });
  const upstream = await server.request(index);

  const second = await request(b, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId, content: 'and tomorrow?' } });
  t.equal(second.status, 409, 'hub B refuses a second answer while hub A writes one');
  t.equal(second.body.code, 'conflict');
  t.equal(server.requests.length, index + 1, 'and asks the model nothing');

  const cancelled = await watcherOnB.emitWithAck('chat:cancel', { conversationId, messageId: sent.messageId });
  t.same(cancelled, { ok: true, cancelled: true, messageId: sent.messageId }, 'hub B has hub A cancel it');
  const { end } = await watched;
  t.match(end, { event: 'chat:error', payload: { messageId: sent.messageId, error: { code: 'cancelled' }, message: { status: 'cancelled', content: 'Looking that up' } } });
  await upstream.closed;
  t.ok(upstream.closedBeforeEnd, 'hub A closed the upstream request');

  server.enqueue(reply.text('Here again.'));
  const next = await request(b, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId, content: 'still there?' } });
  t.equal(next.status, 200, 'the conversation takes a message again, on either instance');
  t.equal(next.body.message?.content, 'Here again.');
  t.same(await watcherOnB.emitWithAck('chat:cancel', { conversationId }), { ok: true, cancelled: false, messageId: null }, 'nothing left to cancel');
});

t.test('an answer that goes quiet is kept alive: the sweep on another instance leaves it, joiners there see it', async (t) => {
  const clock = new ManualClock(new Date());
  const { server, a, b, s } = await startChatPair(t, { clock });
  const { Message } = b.features.conversations.models;
  const conversation = await createConversation(a, s.caregiver, s.patient.id);
  const conversationId = conversation.id as string;
  const senderOnA = await connect(t, a, s.caregiver);

  server.enqueue(reply.hang('Let me think'));
  const index = server.requests.length;
  const sent = await senderOnA.emitWithAck('chat:send', { conversationId, content: 'next dose?' });
  await server.request(index);
  const stored = () => Message.findById(sent.messageId).lean();
  await eventually(async () => (await stored())?.tokens === 3);

  // The model says nothing more for six minutes (hub time): no token, so nothing to checkpoint.
  const later = clock.advance(6 * MINUTE);
  await eventually(async () => ((await stored())?.activityAt?.getTime() ?? 0) >= later.getTime(), 5000);
  t.equal(await b.features.conversations.chat.sweepInterrupted(), 0, 'hub B’s sweep leaves the live answer alone');
  t.match(await stored(), { status: 'streaming', content: 'Let me think', tokens: 3 });

  const joiner = await connect(t, b, s.clinician);
  const joined = await joiner.emitWithAck('conversation:join', { conversationId });
  t.match(joined, { ok: true, streaming: { messageId: sent.messageId, content: 'Let me think', tokens: 3 } }, 'a joiner on hub B is told it streams');
  const second = await request(b, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId, content: 'hello?' } });
  t.equal(second.status, 409, 'its claim on the conversation was kept alive too');

  const ended = collectAnswer(joiner);
  t.match(await joiner.emitWithAck('chat:cancel', { conversationId }), { ok: true, cancelled: true, messageId: sent.messageId });
  t.match((await ended).end, { event: 'chat:error', payload: { error: { code: 'cancelled' } } });
});

t.test('an answer whose claim lapsed and was taken by another answer stops, interrupted, instead of writing beside it', async (t) => {
  const clock = new ManualClock(new Date());
  const { server, a, s } = await startChatPair(t, { clock });
  const { Conversation, Message } = a.features.conversations.models;
  const conversation = await createConversation(a, s.caregiver, s.patient.id);
  const conversationId = conversation.id as string;
  const senderOnA = await connect(t, a, s.caregiver);

  server.enqueue(reply.hang('Let me think'));
  const index = server.requests.length;
  const ended = collectAnswer(senderOnA, 10_000);
  const sent = await senderOnA.emitWithAck('chat:send', { conversationId, content: 'next dose?' });
  const upstream = await server.request(index);
  await eventually(async () => (await Message.findById(sent.messageId).lean())?.tokens === 3);

  // Hub A could not reach the store for over a minute: its claim lapsed, and hub B's answer took the turn.
  const other = new Types.ObjectId();
  await Conversation.collection.updateOne({ _id: new Types.ObjectId(conversationId) }, { $set: { activeMessageId: other, activeUntil: new Date(clock.now().getTime() + MINUTE) } });
  clock.advance(16_000); // past the keep-alive: hub A's next save finds the turn taken

  t.match((await ended).end, { event: 'chat:error', payload: { messageId: sent.messageId, error: { code: 'interrupted' } } }, 'hub A stops its answer');
  await upstream.closed;
  t.ok(upstream.closedBeforeEnd, 'and closes the upstream request');
  t.match(await Message.findById(sent.messageId).lean(), { status: 'error', error: { code: 'interrupted' }, content: 'Let me think' });
  t.equal(String((await Conversation.findById(conversationId).lean())?.activeMessageId), String(other), 'the other answer keeps the turn');
});
