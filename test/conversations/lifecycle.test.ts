/**
 * The edges of a turn's life, made deterministic with the store's command hook (a listener runs
 * when the store has a command in hand, before its reply reaches the hub) and a fake-server reply held
 * until the test releases it: a cancel arriving while the finished answer is being saved, an LLM
 * request log the store refuses, and shutdown meeting a send that is still starting.
 */
import t from 'tap';
import { Types } from 'mongoose';
import type { Socket } from 'socket.io-client';
import type { Actor } from '../../src/features/identity/actor.js';
import type { TurnHandle } from '../../src/features/conversations/chat-service.js';
import { connectSocket, nextEvent, request } from '../helpers/clients.js';
import type { Login } from '../helpers/factories.js';
import { reply } from '../fakes/openai-server.js';
import { collectAnswer, createConversation, startChatFixture, type ChatHub } from './helpers.js';

const ANSWER = 'No medication plan is recorded yet, so please ask your care team.';

async function actorOf(hub: ChatHub, who: Login): Promise<Actor> {
  return { principal: await hub.features.identity.auth.authenticate(who.token), via: 'http' };
}

async function watch(t: Parameters<typeof connectSocket>[0], hub: ChatHub, who: Login, conversationId: string): Promise<Socket> {
  const socket = connectSocket(t, hub, { auth: { token: who.token } });
  await nextEvent(socket, 'connect');
  await socket.emitWithAck('conversation:join', { conversationId });
  return socket;
}

t.test('a cancel arriving while the finished answer is being saved is refused, and the answer completes', async (t) => {
  const { server, hub, s } = await startChatFixture(t);
  const chat = hub.features.conversations.chat;
  const { Message } = hub.features.conversations.models;
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const actor = await actorOf(hub, s.caregiver);
  const watcher = await watch(t, hub, s.clinician, conversation.id);
  const seen = collectAnswer(watcher);

  let release!: () => void;
  server.enqueue(reply.after(new Promise<void>((resolve) => (release = resolve)), reply.text(ANSWER)));
  const sent: { handle?: TurnHandle } = {};
  const inWindow: { service?: Promise<{ cancelled: boolean; messageId: string | null }>; turn?: boolean } = {};
  // The stream has ended and the final save is at the store; its reply has not reached the turn yet.
  const stop = hub.context.store.onCommand((command, collection) => {
    if (command !== 'findAndModify' || collection !== 'conversation_messages' || !sent.handle || inWindow.service) return;
    inWindow.service = chat.cancel(actor, { conversationId: conversation.id });
    inWindow.turn = sent.handle.cancel('user');
  });
  t.teardown(stop);
  const handle = await chat.send(actor, { conversationId: conversation.id, content: 'next dose?' });
  sent.handle = handle;
  release();
  const result = await handle.done;

  t.ok(inWindow.service, 'the cancels came during the final save');
  t.same(await inWindow.service, { cancelled: false, messageId: handle.messageId }, 'chat:cancel acks false, naming the answer it came too late for');
  t.equal(inWindow.turn, false, 'the turn refuses a cancel once its outcome is decided');
  t.equal(result.failure, undefined);
  t.match(result.message, { id: handle.messageId, status: 'complete', content: ANSWER });
  const { end } = await seen;
  t.match(end, { event: 'chat:complete', payload: { message: { id: handle.messageId, status: 'complete' } } }, 'watchers get the complete answer');
  t.match(await Message.findById(handle.messageId).lean(), { status: 'complete', content: ANSWER, error: null });
});

t.test('an answer whose LLM request log the store refuses is still answered and stored complete', async (t) => {
  const { server, hub, s } = await startChatFixture(t);
  const { LlmRequest, Message } = hub.features.conversations.models;
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  // The store refuses every log entry of this conversation: one is recorded, and a unique index forbids another.
  const conversationId = new Types.ObjectId(conversation.id as string);
  await LlmRequest.collection.insertOne({ conversationId, round: 0 });
  await LlmRequest.collection.createIndex({ conversationId: 1, round: 1 }, { unique: true, partialFilterExpression: { conversationId } });
  const watcher = await watch(t, hub, s.clinician, conversation.id);
  const seen = collectAnswer(watcher);

  server.enqueue(reply.text(ANSWER));
  const answered = await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'next dose?' } });
  t.equal(answered.status, 200, 'the caller gets the answer, not an error');
  t.match(answered.body.message, { status: 'complete', content: ANSWER, error: null });
  const messageId = answered.body.message.id as string;
  t.match(await Message.findById(messageId).lean(), { status: 'complete', content: ANSWER });
  t.equal((await seen).end.event, 'chat:complete', 'watchers are told it completed');
  t.equal(await LlmRequest.countDocuments({ messageId }), 0, 'the log entry really was refused');
  t.ok(
    hub.logLines.some((line) => line.includes('could not record the language-model requests') && line.includes(messageId)),
    'and the failure is logged',
  );
  t.equal(hub.features.conversations.chat.activeCount, 0);
});

t.test('shutdown waits for a send still starting and interrupts its answer', async (t) => {
  const { server, hub, s } = await startChatFixture(t);
  const chat = hub.features.conversations.chat;
  const { Message } = hub.features.conversations.models;
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  const actor = await actorOf(hub, s.caregiver);
  server.enqueue(reply.hang('Still thinking'));

  let shutdown: Promise<void> | undefined;
  // The send is past its "shutting down?" check and recording its messages when shutdown begins.
  const stop = hub.context.store.onCommand((command, collection) => {
    if (command === 'insert' && collection === 'conversation_messages' && !shutdown) shutdown = chat.shutdown();
  });
  t.teardown(stop);
  const handle = await chat.send(actor, { conversationId: conversation.id, content: 'slow one' });
  t.ok(shutdown, 'shutdown began while the send was starting');
  await shutdown;

  t.equal(chat.activeCount, 0, 'nothing is left running once shutdown returns');
  t.match(await Message.findById(handle.messageId).lean(), { status: 'error', error: { code: 'interrupted' } }, 'the answer is stored interrupted');
  t.match(await handle.done, { failure: { code: 'interrupted' }, message: { status: 'error' } });
  await t.rejects(chat.send(actor, { conversationId: conversation.id, content: 'again' }), { code: 'unavailable' }, 'later sends are refused');
});
