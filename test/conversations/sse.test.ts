/**
 * POST /chat/message against the OpenAI adapter and a local server speaking the Chat Completions
 * streaming format: SSE event order, the stored answer, the LLM request log, a tool-call round trip,
 * an error mid-stream, a 429 then success, cancellation when the client disconnects, and that no
 * message text reaches the logs.
 */
import t from 'tap';
import { request } from '../helpers/clients.js';
import { reply, type FakeOpenAIServer } from '../fakes/openai-server.js';
import { chatStream, createConversation, eventually, schemaProblems, startChatFixture, type ChatHub, type Scenario } from './helpers.js';

/** Stands for patient text: it must reach the model and the stored messages, never a log line. */
const SECRET_QUESTION = 'Should I take the zebra-blue pill with grapefruit?';
const SECRET_ANSWER = 'Your plan has no zebra-blue pill recorded yet, so please ask your care team.';

let server: FakeOpenAIServer;
let hub: ChatHub;
let s: Scenario;
t.before(async () => {
  ({ server, hub, s } = await startChatFixture(t));
});

const llmLog = (messageId: string) => hub.features.conversations.models.LlmRequest.find({ messageId }).sort({ round: 1 }).lean();

t.test('SSE: session_established, tokens in order, then complete with the stored answer', async (t) => {
  const conversation = await createConversation(hub, s.patientUser, s.patient.id);
  server.enqueue(reply.text(SECRET_ANSWER, { usage: { prompt_tokens: 321, completion_tokens: 15 } }));
  const first = server.requests.length;

  const { status, headers, events } = await chatStream(hub, s.patientUser.token, { conversationId: conversation.id, content: SECRET_QUESTION });
  t.equal(status, 200);
  t.match(headers.get('content-type'), /^text\/event-stream/);
  t.match(headers.get('cache-control'), /no-cache/);
  t.ok(headers.get('x-request-id'), 'the request id header is kept');

  const names = events.map((e) => e.event);
  t.equal(names[0], 'session_established');
  t.equal(names.at(-1), 'complete');
  t.ok(names.slice(1, -1).every((name) => name === 'token'), 'only tokens in between');
  const session = events[0]?.data ?? {};
  t.same(schemaProblems(hub, 'socket/chat-started', session), [], 'session_established matches the chat:started schema');
  t.match(session, { conversationId: conversation.id, offline: false, provider: 'openai-compatible', model: 'gpt-test', userMessage: { content: SECRET_QUESTION, role: 'user' } });

  const tokens = events.filter((e) => e.event === 'token').map((e) => e.data);
  t.same(tokens.map((tk) => tk.index), [...tokens.keys()], 'indexes 0, 1, 2… without gaps');
  t.ok(tokens.every((tk) => tk.messageId === session.messageId && schemaProblems(hub, 'socket/chat-token', tk).length === 0));
  t.equal(tokens.map((tk) => tk.delta).join(''), SECRET_ANSWER, 'the deltas add up to the answer');

  const complete = events.at(-1)?.data ?? {};
  t.same(schemaProblems(hub, 'socket/chat-complete', complete), []);
  t.match(complete.message, { id: session.messageId, status: 'complete', content: SECRET_ANSWER, tokens: tokens.length, offline: false, usage: { promptTokens: 321, completionTokens: 15, totalTokens: 336 } });

  const stored = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}/messages`, { token: s.caregiver.token });
  t.same(stored.body.items[0], complete.message, 'the complete event carries the stored message');
  t.equal(stored.body.items[1].content, SECRET_QUESTION);

  // What went upstream: the template-built system prompt, every tool, the budgeted answer size.
  const sent = server.requests[first]?.body ?? {};
  const messages = sent['messages'] as Array<{ role: string; content: string }>;
  t.equal(messages[0]?.role, 'system');
  t.match(messages[0]?.content, /medhub's assistant/);
  t.match(messages[0]?.content, /talking with the patient themself about Alice's medication/);
  t.match(messages[0]?.content, /No medication plan is recorded yet/);
  t.same(messages.at(-1), { role: 'user', content: SECRET_QUESTION });
  t.same((sent['tools'] as Array<{ function: { name: string } }>).map((tool) => tool.function.name).sort(), ['confirm_dose', 'get_adherence', 'get_medication_plan', 'get_next_dose', 'log_symptom', 'request_help']);
  t.equal(sent['max_completion_tokens'], 1000);

  const [entry, ...more] = await llmLog(session.messageId);
  t.equal(more.length, 0, 'one upstream request');
  t.match(entry, { round: 0, provider: 'openai-compatible', model: 'gpt-test', offline: false, outcome: 'complete', finishReason: 'stop', promptTokens: 321, completionTokens: 15, totalTokens: 336, tokenEvents: tokens.length, toolsOffered: 6 });
  const firstTokenMs = entry?.firstTokenMs ?? -1;
  t.ok(firstTokenMs >= 0 && (entry?.totalMs ?? -1) >= firstTokenMs, 'latencies are recorded');
  t.notMatch(JSON.stringify(entry), /zebra/, 'the LLM request log holds no text');
});

t.test('history: earlier messages are sent back, and the conversation continues', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.text('First answer.'), reply.text('Second answer.'));
  await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'First question' } });
  const before = server.requests.length;
  const second = await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'Second question', stream: false } });
  t.equal(second.status, 200);
  t.equal(second.body.message.content, 'Second answer.');
  const messages = (server.requests[before]?.body?.['messages'] ?? []) as Array<{ role: string; content: string }>;
  t.same(messages.slice(1), [
    { role: 'user', content: 'First question' },
    { role: 'assistant', content: 'First answer.' },
    { role: 'user', content: 'Second question' },
  ]);
  t.match(messages[0]?.content, /a caregiver on the patient's care team/);
});

t.test('an answer that fails after its tool recorded something is not retryable, and the record is made once', async (t) => {
  const conversation = await createConversation(hub, s.patientUser, s.patient.id);
  server.enqueue(
    reply.toolCalls([{ id: 'call_help', name: 'request_help', arguments: { urgency: 'urgent', reason: 'I feel faint' } }], { text: 'Calling your care team.' }),
    reply.errorMidStream({ message: 'upstream exploded', type: 'server_error' }, { afterText: 'They' }),
  );
  const { events } = await chatStream(hub, s.patientUser.token, { conversationId: conversation.id, content: 'I feel faint, please get someone' });
  t.match(events.at(-1), { event: 'error', data: { error: { code: 'upstream_error', retryable: false }, message: { status: 'error', toolCalls: [{ name: 'request_help', ok: true }] } } }, 'the help request ran: asking again would ask twice');
  const reports = await request(hub, 'GET', `/api/v1/patients/${s.patient.id}/reports?kind=help`, { token: s.caregiver.token });
  t.equal(reports.body.items.filter((r: { sourceRef: string }) => r.sourceRef === conversation.id).length, 1);

  // As JSON: the answer with 200 (status error, its tool calls), not a 5xx a client would send again.
  server.enqueue(
    reply.toolCalls([{ id: 'call_symptom', name: 'log_symptom', arguments: { symptom: 'dizziness', severity: 'mild' } }]),
    reply.errorMidStream({ message: 'upstream exploded', type: 'server_error' }, { afterText: 'Noted' }),
  );
  const json = await request(hub, 'POST', '/api/v1/chat/message', { token: s.patientUser.token, body: { conversationId: conversation.id, content: 'I feel dizzy', stream: false } });
  t.equal(json.status, 200);
  t.match(json.body.message, { status: 'error', error: { code: 'upstream_error' }, toolCalls: [{ name: 'log_symptom', ok: true }] });
});

t.test('a tool call round trip: run with the caller’s permissions, answered honestly, recorded', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(
    reply.toolCalls(
      [
        { id: 'call_next', name: 'get_next_dose', arguments: { medication: 'metformin' } },
        { id: 'call_bad', name: 'get_adherence', arguments: { range: 'forever' } },
      ],
      { text: 'Let me check.' },
    ),
    reply.text('No medication plan is recorded yet.'),
  );
  const first = server.requests.length;
  const { events } = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'When do I take metformin?' });
  const complete = events.at(-1);
  t.equal(complete?.event, 'complete');
  t.equal(complete?.data.message.content, 'Let me check. No medication plan is recorded yet.', 'text from both rounds, kept apart');
  t.same(complete?.data.message.toolCalls, [
    { id: 'call_next', name: 'get_next_dose', ok: true, errorCode: null },
    { id: 'call_bad', name: 'get_adherence', ok: false, errorCode: 'invalid_arguments' },
  ]);
  const tokens = events.filter((e) => e.event === 'token').map((e) => e.data.index);
  t.same(tokens, [...tokens.keys()], 'one index sequence across rounds');

  t.equal(server.requests.length, first + 2, 'a second request carries the tool results');
  const messages = (server.requests[first + 1]?.body?.['messages'] ?? []) as Array<Record<string, unknown>>;
  const [assistant, toolNext, toolBad] = messages.slice(-3);
  t.match(assistant, { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'call_next', function: { name: 'get_next_dose' } }, { id: 'call_bad' }] });
  t.equal(toolNext?.['tool_call_id'], 'call_next');
  t.match(JSON.parse(String(toolNext?.['content'])), { ok: true, recorded: false, message: /No medication plan is recorded/ });
  t.equal(toolBad?.['tool_call_id'], 'call_bad');
  t.match(JSON.parse(String(toolBad?.['content'])), { ok: false, error: { code: 'invalid_arguments', message: /range/ } }, 'the registry’s message goes back so the model can fix the call');

  const log = await llmLog(complete?.data.message.id);
  t.same(log.map((e) => [e.round, e.outcome, e.toolCalls]), [[0, 'tool_calls', 2], [1, 'complete', 0]]);
  const audit = await request(hub, 'GET', '/api/v1/audit?limit=200', { token: s.admin.token });
  t.ok(audit.body.items.some((e: { action: string; outcome: string; actor: { id: string } }) => e.action === 'assistant.tool.get_next_dose' && e.outcome === 'allowed' && e.actor.id === s.caregiver.userId), 'the tool ran as the caregiver and was audited');
});

t.test('an error mid-stream ends with an error event and keeps the text shown', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.errorMidStream({ message: `upstream exploded near ${SECRET_QUESTION}`, type: 'server_error' }, { afterText: 'Your next dose' }));
  const { events } = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'next dose?' });
  t.same(events.map((e) => e.event), ['session_established', 'token', 'token', 'token', 'error']);
  const error = events.at(-1)?.data ?? {};
  t.same(schemaProblems(hub, 'socket/chat-error', error), []);
  t.match(error, { error: { code: 'upstream_error', retryable: true }, message: { status: 'error', content: 'Your next dose', error: { code: 'upstream_error' } } });
  t.notMatch(JSON.stringify(error), /exploded/, 'upstream error text is never passed on');
  const [entry] = await llmLog(error.messageId);
  t.match(entry, { outcome: 'error', errorCode: 'upstream_error', tokenEvents: 3 });

  const down = () => reply.httpError(500, { message: 'down' }, { 'retry-after-ms': '1' });
  server.enqueue(down(), down(), down());
  const json = await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'again?' } });
  t.equal(json.status, 502, 'stream:false answers a problem when the model fails');
  t.equal(json.body.code, 'upstream_error');
});

t.test('a 429 then success: the adapter retries before the first token', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.rateLimited({ retryAfterMs: 5 }), reply.text('Here you are.'));
  const before = server.requests.length;
  const { events } = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'hi' });
  t.equal(events.at(-1)?.event, 'complete');
  t.equal(events.at(-1)?.data.message.content, 'Here you are.');
  t.equal(server.requests.length, before + 2, 'two upstream attempts');

  server.enqueue(reply.rateLimited({ retryAfterMs: 1 }), reply.rateLimited({ retryAfterMs: 1 }), reply.rateLimited({ retryAfterMs: 1 }));
  const limited = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'hi again' });
  t.match(limited.events.at(-1), { event: 'error', data: { error: { code: 'rate_limited', retryable: true }, message: { status: 'error' } } });
});

t.test('a client that disconnects cancels the upstream request; the answer is stored as cancelled', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.hang('Your next dose is'));
  const index = server.requests.length;
  const { events } = await chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'next dose?' }, { stopAfter: 5 });
  t.same(events.map((e) => e.event), ['session_established', 'token', 'token', 'token', 'token']);
  const upstream = await server.request(index);
  await upstream.closed;
  t.ok(upstream.closedBeforeEnd, 'the hub closed the upstream request');

  const messageId = events[0]?.data.messageId as string;
  const stored = await eventually(async () => {
    const page = await request(hub, 'GET', `/api/v1/conversations/${conversation.id}/messages`, { token: s.caregiver.token });
    const message = page.body.items.find((m: { id: string }) => m.id === messageId);
    return message?.status === 'cancelled' && message;
  });
  t.match(stored, { content: 'Your next dose is', tokens: 4, error: { code: 'cancelled' } });
  const [entry] = await llmLog(messageId);
  t.match(entry, { outcome: 'cancelled', errorCode: 'cancelled' });
  t.equal(hub.features.conversations.chat.activeCount, 0);

  server.enqueue(reply.text('Back again.'));
  const next = await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'still there?' } });
  t.equal(next.body.message.content, 'Back again.', 'the conversation takes a new message');
});

t.test('one answer at a time per conversation', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.hang('Thinking'));
  const index = server.requests.length;
  const controller = new AbortController();
  const first = fetch(`${hub.urls.api}/chat/message`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.caregiver.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ conversationId: conversation.id, content: 'one', stream: true }),
    signal: controller.signal,
  });
  await server.request(index);
  const second = await request(hub, 'POST', '/api/v1/chat/message', { token: s.caregiver.token, body: { conversationId: conversation.id, content: 'two' } });
  t.equal(second.status, 409);
  t.equal(second.body.code, 'conflict');
  controller.abort();
  await first.then((response) => response.body?.cancel()).catch(() => undefined);
  await eventually(async () => hub.features.conversations.chat.activeCount === 0);
});

t.test('no message text reaches the logs', async (t) => {
  const lines = hub.logLines.join('\n');
  t.ok(lines.includes('assistant turn ended'), 'turns are logged');
  t.ok(hub.logLines.length > 20, 'debug logging was on');
  for (const phrase of ['zebra', 'grapefruit', 'First question', 'First answer', 'Let me check', 'metformin', 'exploded', 'Your next dose']) {
    t.notOk(lines.toLowerCase().includes(phrase.toLowerCase()), `"${phrase}" is not in the logs`);
  }
});

t.test('shutdown interrupts an answer still streaming and ends its stream', async (t) => {
  const conversation = await createConversation(hub, s.caregiver, s.patient.id);
  server.enqueue(reply.hang('Still thinking'));
  const index = server.requests.length;
  const streaming = chatStream(hub, s.caregiver.token, { conversationId: conversation.id, content: 'slow one' });
  await server.request(index);
  await eventually(async () => (await hub.features.conversations.chat.snapshot(conversation.id))?.tokens === 2);
  await hub.close();
  const { events } = await streaming;
  t.match(events.at(-1), { event: 'error', data: { error: { code: 'interrupted', retryable: true }, message: { status: 'error', content: 'Still thinking' } } });
});
