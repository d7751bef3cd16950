import t from 'tap';
import { OpenAILanguageModel, type OpenAILanguageModelOptions } from '../../src/ports/adapters/openai/index.js';
import {
  complete,
  LanguageModelError,
  type LanguageModelEvent,
  type LanguageModelRequest,
} from '../../src/ports/language-model.js';
import type { PortLogger } from '../../src/ports/logger.js';
import { ToolRegistry } from '../../src/ports/tool-registry.js';
import { reply, startFakeOpenAIServer, type FakeOpenAIServer } from '../fakes/openai-server.js';

const API_KEY = 'sk-test-medhub';
/** A phrase that must never reach a log line: stands for patient text and upstream error text. */
const SECRET = 'my-private-symptom-text';

let server: FakeOpenAIServer;
t.before(async () => {
  server = await startFakeOpenAIServer({ apiKey: API_KEY });
});
t.teardown(() => server.close());

function model(options: Partial<OpenAILanguageModelOptions> = {}): OpenAILanguageModel {
  return new OpenAILanguageModel({ apiKey: API_KEY, baseURL: server.baseURL, model: 'gpt-test', retryBaseDelayMs: 10, ...options });
}

function request(overrides: Partial<LanguageModelRequest> = {}): LanguageModelRequest {
  return { messages: [{ role: 'user', content: `When is my next dose? ${SECRET}` }], signal: new AbortController().signal, ...overrides };
}

async function collect(stream: AsyncIterable<LanguageModelEvent>): Promise<LanguageModelEvent[]> {
  const events: LanguageModelEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function failure(stream: AsyncIterable<LanguageModelEvent>, seen: LanguageModelEvent[] = []): Promise<LanguageModelError> {
  try {
    for await (const event of stream) seen.push(event);
  } catch (error) {
    if (error instanceof LanguageModelError) return error;
    throw error;
  }
  throw new Error('expected the stream to fail');
}

function recordingLogger(): PortLogger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (obj: object, msg?: string) => void lines.push(JSON.stringify({ level, obj, msg }));
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

const tokensOf = (events: LanguageModelEvent[]): string[] => events.flatMap((e) => (e.type === 'token' ? [e.text] : []));

t.test('streams tokens in order, then done with usage and the upstream model', async (t) => {
  server.enqueue(reply.text('Your next dose is Metformin 500 mg at 20:00.', { usage: { prompt_tokens: 31, completion_tokens: 9 } }));
  const before = server.requests.length;
  const events = await collect(model().stream(request({ maxTokens: 200 })));

  t.same(tokensOf(events), ['Your', ' next', ' dose', ' is', ' Metformin', ' 500', ' mg', ' at', ' 20:00.']);
  t.same(events.at(-1), { type: 'done', finishReason: 'stop', usage: { promptTokens: 31, completionTokens: 9, totalTokens: 40 }, model: 'gpt-test' });
  t.equal(events.filter((e) => e.type === 'done').length, 1, 'exactly one done');

  const sent = server.requests[before];
  t.equal(sent?.path, '/v1/chat/completions');
  t.equal(sent?.headers.authorization, `Bearer ${API_KEY}`);
  t.match(sent?.body, {
    model: 'gpt-test',
    stream: true,
    stream_options: { include_usage: true },
    max_completion_tokens: 200,
    messages: [{ role: 'user', content: `When is my next dose? ${SECRET}` }],
  });
  t.notOk(sent?.body && 'tools' in sent.body, 'no tools key when none are offered');
});

t.test('honours baseURL (vLLM/Ollama style prefix), per-request model and max_tokens field', async (t) => {
  const before = server.requests.length;
  const ollama = model({ baseURL: `${server.origin}/ollama/v1`, maxTokensField: 'max_tokens', name: 'ollama' });
  const result = await complete(ollama, request({ model: 'llama3.1', maxTokens: 50 }));

  t.equal(server.requests[before]?.path, '/ollama/v1/chat/completions');
  t.match(server.requests[before]?.body, { model: 'llama3.1', max_tokens: 50 });
  t.equal(result.text, 'Hello from the fake server.');
  t.equal(result.model, 'llama3.1');
  t.equal(result.offline, false);
  t.equal(ollama.name, 'ollama');
});

t.test('assembles tool calls from interleaved deltas and sends tools and tool history on the wire', async (t) => {
  const registry = ToolRegistry.load();
  server.enqueue(
    reply.toolCalls(
      [
        { id: 'call_a', name: 'log_symptom', arguments: { symptom: 'headache', severity: 'mild', notes: 'since lunch' } },
        { id: 'call_b', name: 'get_next_dose', arguments: {} },
      ],
      { text: 'Let me note that.', pieces: 4 },
    ),
  );
  const before = server.requests.length;
  const events = await collect(
    model().stream(
      request({
        tools: registry.definitions(),
        messages: [
          { role: 'user', content: 'What do I take?' },
          { role: 'assistant', content: null, toolCalls: [{ id: 'call_0', name: 'get_medication_plan', arguments: '{}' }] },
          { role: 'tool', toolCallId: 'call_0', content: '{"ok":true,"medications":[]}' },
          { role: 'user', content: 'I have a mild headache' },
        ],
      }),
    ),
  );

  t.same(tokensOf(events).join(''), 'Let me note that.');
  const calls = events.filter((e) => e.type === 'tool_call');
  t.same(calls, [
    { type: 'tool_call', id: 'call_a', name: 'log_symptom', arguments: '{"symptom":"headache","severity":"mild","notes":"since lunch"}' },
    { type: 'tool_call', id: 'call_b', name: 'get_next_dose', arguments: '{}' },
  ]);
  t.match(events.at(-1), { type: 'done', finishReason: 'tool_calls', usage: { totalTokens: 60 } });
  t.ok(events.findIndex((e) => e.type === 'tool_call') > events.findLastIndex((e) => e.type === 'token'), 'tool calls follow tokens');
  const first = calls[0];
  t.ok(first?.type === 'tool_call' && registry.parseArguments(first.name, first.arguments).ok, 'assembled arguments validate');

  const body = server.requests[before]?.body;
  t.same(body?.['tools'], registry.openAITools());
  t.same((body?.['messages'] as unknown[]).slice(1, 3), [
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'get_medication_plan', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_0', content: '{"ok":true,"medications":[]}' },
  ]);
});

t.test('an error mid-stream becomes a LanguageModelError without upstream text, and logs stay clean', async (t) => {
  const logger = recordingLogger();
  server.enqueue(reply.errorMidStream({ message: `The server had an error processing "${SECRET}"`, type: 'server_error', code: 'server_error' }, { afterText: 'Your next' }));
  const seen: LanguageModelEvent[] = [];
  const error = await failure(model({ logger }).stream(request()), seen);

  t.same(tokensOf(seen), ['Your', ' next'], 'tokens before the error were delivered');
  t.equal(error.code, 'upstream_error');
  t.equal(error.retryable, true);
  t.equal(error.upstreamCode, 'server_error');
  t.equal(error.provider, 'openai');
  t.notMatch(error.message, SECRET);
  t.notMatch(JSON.stringify(error), SECRET);
  t.ok(logger.lines.some((line) => line.includes('"code":"upstream_error"')), 'the failure was logged by code');
  t.notOk(logger.lines.some((line) => line.includes(SECRET) || line.includes('When is my next dose')), 'no message or upstream text in logs');
});

t.test('rate limited mid-stream maps to rate_limited', async (t) => {
  server.enqueue(reply.errorMidStream({ message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' }, { afterText: 'Hi' }));
  const error = await failure(model().stream(request()));
  t.equal(error.code, 'rate_limited');
  t.equal(error.retryable, true);
});

t.test('429 then success: the SDK retries before the first token (two requests recorded)', async (t) => {
  server.enqueue(reply.rateLimited({ retryAfterMs: 20 }), reply.text('Recovered answer.'));
  const before = server.requests.length;
  const events = await collect(model().stream(request()));

  t.equal(tokensOf(events).join(''), 'Recovered answer.');
  t.equal(server.requests.length - before, 2, 'two requests reached the server');
  t.equal(server.requests[before]?.headers['x-stainless-retry-count'], '0');
  t.equal(server.requests[before + 1]?.headers['x-stainless-retry-count'], '1', 'the second one is the SDK retry');
});

t.test('429 beyond maxRetries surfaces as rate_limited; insufficient_quota is not retryable', async (t) => {
  server.enqueue(reply.rateLimited({ retryAfterMs: 5 }), reply.rateLimited({ retryAfterMs: 5 }));
  let before = server.requests.length;
  const limited = await failure(model({ maxRetries: 1 }).stream(request()));
  t.equal(limited.code, 'rate_limited');
  t.equal(limited.status, 429);
  t.equal(limited.retryable, true);
  t.equal(server.requests.length - before, 2, 'one try plus one retry');

  server.enqueue(reply.rateLimited({ retryAfterMs: 5, code: 'insufficient_quota' }));
  before = server.requests.length;
  const quota = await failure(model({ maxRetries: 0 }).stream(request()));
  t.equal(quota.code, 'rate_limited');
  t.equal(quota.retryable, false);
  t.equal(server.requests.length - before, 1);
});

t.test('a stream that fails before its first chunk is retried by the adapter', async (t) => {
  server.enqueue(reply.errorMidStream({ message: 'overloaded', type: 'server_error', code: 'overloaded' }), reply.text('Second try.'));
  const before = server.requests.length;
  const events = await collect(model().stream(request()));
  t.equal(tokensOf(events).join(''), 'Second try.');
  t.equal(server.requests.length - before, 2);
});

t.test('client errors are not retried: 401 → unauthorized, 400 → bad_request', async (t) => {
  let before = server.requests.length;
  const unauthorized = await failure(model({ apiKey: 'sk-wrong' }).stream(request()));
  t.equal(unauthorized.code, 'unauthorized');
  t.equal(unauthorized.status, 401);
  t.equal(unauthorized.retryable, false);
  t.equal(server.requests.length - before, 1);

  server.enqueue(reply.httpError(400, { message: `This model's maximum context length is exceeded: ${SECRET}`, type: 'invalid_request_error', code: 'context_length_exceeded' }));
  before = server.requests.length;
  const bad = await failure(model().stream(request()));
  t.equal(bad.code, 'bad_request');
  t.equal(bad.upstreamCode, 'context_length_exceeded');
  t.notMatch(bad.message, SECRET);
  t.equal(server.requests.length - before, 1);
});

t.test('aborting the signal mid-stream throws cancelled and closes the upstream connection', async (t) => {
  server.enqueue(reply.text('one two three four five six seven eight nine ten', { pauseMs: 100 }));
  const before = server.requests.length;
  const controller = new AbortController();
  const seen: LanguageModelEvent[] = [];
  const stream = model().stream(request({ signal: controller.signal }));
  const outcome = (async () => {
    for await (const event of stream) {
      seen.push(event);
      if (seen.length === 2) controller.abort();
    }
  })();

  const error = await outcome.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof LanguageModelError && error.code === 'cancelled', 'cancelled');
  t.equal(seen.length, 2, 'no events after the abort');
  const upstream = await server.request(before);
  await upstream.closed;
  t.equal(upstream.closedBeforeEnd, true, 'the fake server saw the connection close before the stream ended');
});

t.test('leaving the loop early closes the upstream connection without an error', async (t) => {
  server.enqueue(reply.text('alpha beta gamma delta epsilon zeta', { pauseMs: 100 }));
  const before = server.requests.length;
  for await (const event of model().stream(request())) {
    if (event.type === 'token') break;
  }
  const upstream = await server.request(before);
  await upstream.closed;
  t.equal(upstream.closedBeforeEnd, true);
});

t.test('abort during the SDK retry sleep returns at once', async (t) => {
  // The SDK's Retry-After sleep cannot be interrupted (its timer lives on, so keep it short here);
  // the adapter must not wait for it.
  server.enqueue(reply.rateLimited({ retryAfterMs: 1_500 }));
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 50);
  const error = await failure(model().stream(request({ signal: controller.signal })));
  t.equal(error.code, 'cancelled');
  t.ok(Date.now() - started < 500, 'did not wait for Retry-After');
});

t.test('silence mid-stream trips the idle timeout and closes the connection', async (t) => {
  server.enqueue(reply.hang('Your next'));
  const before = server.requests.length;
  const error = await failure(model({ idleTimeoutMs: 150 }).stream(request()));
  t.equal(error.code, 'timeout');
  t.equal(error.retryable, true);
  const upstream = await server.request(before);
  await upstream.closed;
  t.equal(upstream.closedBeforeEnd, true);
});

t.test('a stream that ends without finish_reason is an upstream_error, not a silent done', async (t) => {
  server.enqueue(reply.truncated('Half an'));
  const seen: LanguageModelEvent[] = [];
  const error = await failure(model({ maxRetries: 0 }).stream(request()), seen);
  t.equal(error.code, 'upstream_error');
  t.equal(error.upstreamCode, 'stream_truncated');
  t.notOk(seen.some((e) => e.type === 'done'));
});

t.test('a server that is not there is upstream_unavailable', async (t) => {
  const gone = await startFakeOpenAIServer();
  const baseURL = gone.baseURL;
  await gone.close();
  const error = await failure(model({ baseURL, maxRetries: 0 }).stream(request()));
  t.equal(error.code, 'upstream_unavailable');
  t.equal(error.retryable, true);
});

t.test('complete() gathers text, tool calls and usage', async (t) => {
  server.enqueue(reply.toolCalls([{ name: 'request_help', arguments: { urgency: 'urgent', reason: 'Feeling faint' } }], { text: 'Calling your team.' }));
  const result = await complete(model(), request());
  t.equal(result.text, 'Calling your team.');
  t.same(result.toolCalls, [{ id: 'call_fake_0', name: 'request_help', arguments: '{"urgency":"urgent","reason":"Feeling faint"}' }]);
  t.equal(result.finishReason, 'tool_calls');
  t.same(result.usage, { promptTokens: 40, completionTokens: 20, totalTokens: 60 });
});
