/**
 * A small OpenAI-compatible server for tests: real HTTP on 127.0.0.1, port 0, speaking the Chat
 * Completions wire format (see NOTES.md "OpenAI SDK"):
 * - `POST <any prefix>/chat/completions` (the prefix is recorded, so tests can check `baseURL`);
 * - streaming: `data: {chat.completion.chunk}\n\n` … `data: [DONE]\n\n`, tool-call deltas by index, and the
 *   usage chunk with `choices: []` only when the request asked `stream_options.include_usage`;
 * - non-streaming: the same script folded into one `chat.completion` object;
 * - errors as `{error:{message,type,param,code}}`, in an HTTP status or mid-stream.
 *
 * Each request takes the next scripted reply (`enqueue`), or the default reply when none is queued.
 * Every request is recorded with its headers and body, and whether the client closed the connection
 * before the response ended (how tests prove cancellation reaches the upstream).
 *
 *     const server = await startFakeOpenAIServer({ apiKey: 'sk-test' });
 *     server.enqueue(reply.rateLimited({ retryAfterMs: 10 }), reply.text('Hello there'));
 *     new OpenAI({ apiKey: 'sk-test', baseURL: server.baseURL });
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface UpstreamErrorBody {
  message: string;
  type?: string;
  code?: string | null;
  param?: string | null;
}

export type Usage = { prompt_tokens: number; completion_tokens: number };

export type StreamStep =
  | { kind: 'content'; text: string }
  | { kind: 'tool_call_delta'; index: number; id?: string; name?: string; arguments?: string }
  | { kind: 'finish'; reason: string }
  | { kind: 'usage'; usage: Usage }
  | { kind: 'error'; error: UpstreamErrorBody }
  | { kind: 'pause'; ms: number }
  /** Stop writing but keep the connection open, until the client goes away or the server closes. */
  | { kind: 'hang' }
  /** Writes `text` verbatim (already SSE-framed), for malformed-stream tests. */
  | { kind: 'raw'; text: string }
  | { kind: 'done' }
  /** Writes nothing more until `until` settles: the test decides when the rest comes. */
  | { kind: 'wait'; until: Promise<unknown> };

export type FakeReply =
  | { kind: 'stream'; steps: StreamStep[] }
  | { kind: 'status'; status: number; body: unknown; headers?: Record<string, string> };

export interface RecordedRequest {
  method: string;
  /** Path and query as received, e.g. `/v1/chat/completions`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined if it was not JSON). */
  body: Record<string, unknown> | undefined;
  /** True when the connection closed before the response ended: the client aborted or went away. */
  closedBeforeEnd: boolean;
  /** Resolves when the response's connection has closed, ended or torn down. */
  closed: Promise<void>;
}

export interface FakeOpenAIServer {
  /** `http://127.0.0.1:<port>/v1`, what `baseURL` should be. */
  readonly baseURL: string;
  /** `http://127.0.0.1:<port>`, to build other prefixes. */
  readonly origin: string;
  readonly requests: readonly RecordedRequest[];
  enqueue(...replies: FakeReply[]): void;
  /** Resolves with request number `index` (0-based) once it has arrived. */
  request(index: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export interface FakeOpenAIServerOptions {
  /** When set, requests without `Authorization: Bearer <apiKey>` get a 401 like the real API. */
  apiKey?: string;
  /** Reply used when nothing is queued. Default: `reply.text('Hello from the fake server.')`. */
  defaultReply?: FakeReply;
}

// ---------------------------------------------------------------------------------------------------
// Script builders
// ---------------------------------------------------------------------------------------------------

export interface TextOptions {
  /** Pause between chunks, for slow streams. */
  pauseMs?: number;
  usage?: Usage;
  finish?: string;
}

export interface ScriptedToolCall {
  id?: string;
  name: string;
  /** Object (serialised) or raw JSON text (sent as is, may be invalid on purpose). */
  arguments: string | Record<string, unknown>;
}

export const reply = {
  /** An answer streamed one word per chunk, then `stop`, usage and `[DONE]`. */
  text(text: string, options: TextOptions = {}): FakeReply {
    const words = splitWords(text);
    const steps = words.flatMap((word, i): StreamStep[] =>
      i > 0 && options.pauseMs ? [{ kind: 'pause', ms: options.pauseMs }, { kind: 'content', text: word }] : [{ kind: 'content', text: word }],
    );
    return stream([...steps, ...ending(options.finish ?? 'stop', options.usage ?? { prompt_tokens: 12, completion_tokens: words.length })]);
  },

  /**
   * Tool calls with their arguments split across several chunks, interleaved between calls the way
   * parallel tool calls arrive, optionally after some text.
   */
  toolCalls(calls: readonly ScriptedToolCall[], options: { text?: string; pieces?: number; usage?: Usage } = {}): FakeReply {
    const pieces = options.pieces ?? 3;
    const prose: StreamStep[] = options.text ? splitWords(options.text).map((text) => ({ kind: 'content', text })) : [];
    const heads: StreamStep[] = calls.map((call, index) => ({ kind: 'tool_call_delta', index, id: call.id ?? `call_fake_${index}`, name: call.name, arguments: '' }));
    const argumentPieces = calls.map((call) => splitInto(argumentText(call), pieces));
    const tails: StreamStep[] = [];
    for (let piece = 0; piece < pieces; piece++) {
      argumentPieces.forEach((parts, index) => {
        const part = parts[piece];
        if (part) tails.push({ kind: 'tool_call_delta', index, arguments: part });
      });
    }
    return stream([...prose, ...heads, ...tails, ...ending('tool_calls', options.usage ?? { prompt_tokens: 40, completion_tokens: 20 })]);
  },

  /** Some text, then an `{"error":…}` payload, then the stream ends without `[DONE]` (as the API does). */
  errorMidStream(error: UpstreamErrorBody, options: { afterText?: string } = {}): FakeReply {
    const prose: StreamStep[] = options.afterText ? splitWords(options.afterText).map((text) => ({ kind: 'content', text })) : [];
    return stream([...prose, { kind: 'error', error }]);
  },

  /** Some text, then silence with the connection held open. */
  hang(afterText = ''): FakeReply {
    return stream([...splitWords(afterText).map((text): StreamStep => ({ kind: 'content', text })), { kind: 'hang' }]);
  },

  /** Some text, then the response ends cleanly without `finish_reason` or `[DONE]`. */
  truncated(text: string): FakeReply {
    return stream(splitWords(text).map((word) => ({ kind: 'content', text: word })));
  },

  httpError(status: number, error: UpstreamErrorBody, headers: Record<string, string> = {}): FakeReply {
    return { kind: 'status', status, body: { error: { type: null, code: null, param: null, ...error } }, headers };
  },

  /** A 429 like the API's. `retryAfterMs` sets `retry-after-ms`, which the SDK obeys (keeps tests fast). */
  rateLimited(options: { retryAfterMs?: number; retryAfterSeconds?: number; code?: string } = {}): FakeReply {
    const headers: Record<string, string> = {};
    if (options.retryAfterMs !== undefined) headers['retry-after-ms'] = String(options.retryAfterMs);
    if (options.retryAfterSeconds !== undefined) headers['retry-after'] = String(options.retryAfterSeconds);
    return reply.httpError(429, { message: 'Rate limit reached for requests', type: 'requests', code: options.code ?? 'rate_limit_exceeded' }, headers);
  },

  steps(...steps: StreamStep[]): FakeReply {
    return stream(steps);
  },

  /** `then`, its stream held (after the headers) until `until` settles. */
  after(until: Promise<unknown>, then: FakeReply): FakeReply {
    return then.kind === 'stream' ? stream([{ kind: 'wait', until }, ...then.steps]) : then;
  },
};

function stream(steps: StreamStep[]): FakeReply {
  return { kind: 'stream', steps };
}

function ending(reason: string, usage: Usage): StreamStep[] {
  return [{ kind: 'finish', reason }, { kind: 'usage', usage }, { kind: 'done' }];
}

/** Splits text into word tokens the way models stream them: `["Hello", " there"]`. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function splitInto(text: string, pieces: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / pieces));
  const parts: string[] = [];
  for (let at = 0; at < text.length; at += size) parts.push(text.slice(at, at + size));
  return parts;
}

function argumentText(call: ScriptedToolCall): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
}

// ---------------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------------

export async function startFakeOpenAIServer(options: FakeOpenAIServerOptions = {}): Promise<FakeOpenAIServer> {
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  const waiters: Array<() => void> = [];
  let completionCount = 0;

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      console.error('fake OpenAI server failed', error);
      res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req);
    const recorded = record(req, res, body);
    requests.push(recorded);
    waiters.splice(0).forEach((wake) => wake());

    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendJson(res, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    }
    if (req.method !== 'POST' || !recorded.path.split('?')[0]?.endsWith('/chat/completions')) {
      return sendJson(res, 404, { error: { message: `Unknown request URL: ${req.method} ${recorded.path}`, type: 'invalid_request_error', param: null, code: 'unknown_url' } });
    }
    if (!body) return sendJson(res, 400, { error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', param: null, code: null } });

    const scripted = queue.shift() ?? options.defaultReply ?? reply.text('Hello from the fake server.');
    completionCount += 1;
    const meta = { id: `chatcmpl-fake-${completionCount}`, model: String(body['model'] ?? 'fake-model'), created: Math.floor(Date.now() / 1000) };
    if (scripted.kind === 'status') return sendJson(res, scripted.status, scripted.body, scripted.headers);
    if (body['stream'] === true) return writeStream(res, scripted.steps, meta, includeUsage(body));
    return sendCompletion(res, scripted.steps, meta);
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseURL: `${origin}/v1`,
    origin,
    requests,
    enqueue: (...replies) => void queue.push(...replies),
    request: async (index) => {
      while (requests.length <= index) await new Promise<void>((wake) => waiters.push(wake));
      return requests[index] as RecordedRequest;
    },
    close: async () => {
      // Keep-alive sockets (the SDK's fetch keeps them) and hanging streams would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function record(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown> | undefined): RecordedRequest {
  const recorded: RecordedRequest = {
    method: req.method ?? '',
    path: req.url ?? '',
    headers: req.headers,
    body,
    closedBeforeEnd: false,
    closed: once(res, 'close').then(() => {
      recorded.closedBeforeEnd = !res.writableEnded;
    }),
  };
  return recorded;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function includeUsage(body: Record<string, unknown>): boolean {
  const streamOptions = body['stream_options'] as { include_usage?: unknown } | undefined;
  return streamOptions?.include_usage === true;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

interface ResponseMeta {
  id: string;
  model: string;
  created: number;
}

async function writeStream(res: ServerResponse, steps: readonly StreamStep[], meta: ResponseMeta, withUsage: boolean): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (payload: unknown): boolean => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): unknown => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  });

  send(chunk({ role: 'assistant', content: '', refusal: null }));
  for (const step of steps) {
    if (res.destroyed) return;
    switch (step.kind) {
      case 'content':
        send(chunk({ content: step.text }));
        break;
      case 'tool_call_delta':
        send(chunk({ tool_calls: [toolCallDelta(step)] }));
        break;
      case 'finish':
        send(chunk({}, step.reason));
        break;
      case 'usage':
        if (withUsage) send({ ...chunkBase(meta), choices: [], usage: withTotal(step.usage) });
        break;
      case 'error':
        send({ error: { type: null, code: null, param: null, ...step.error } });
        return void res.end();
      case 'pause':
        await delay(step.ms);
        break;
      case 'hang':
        return;
      case 'raw':
        res.write(step.text);
        break;
      case 'done':
        res.write('data: [DONE]\n\n');
        break;
      case 'wait':
        await step.until;
        break;
    }
  }
  res.end();
}

function chunkBase(meta: ResponseMeta): Record<string, unknown> {
  return { id: meta.id, object: 'chat.completion.chunk', created: meta.created, model: meta.model, system_fingerprint: 'fp_fake' };
}

function toolCallDelta(step: Extract<StreamStep, { kind: 'tool_call_delta' }>): Record<string, unknown> {
  // As the API does: the first delta of a call carries id, type and name; later ones only argument text.
  const fn: Record<string, unknown> = { arguments: step.arguments ?? '' };
  if (step.name !== undefined) fn['name'] = step.name;
  return step.id !== undefined ? { index: step.index, id: step.id, type: 'function', function: fn } : { index: step.index, function: fn };
}

function withTotal(usage: Usage): Usage & { total_tokens: number } {
  return { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
}

/** Non-streaming request: fold the script into one `chat.completion`. */
function sendCompletion(res: ServerResponse, steps: readonly StreamStep[], meta: ResponseMeta): void {
  const failure = steps.find((step) => step.kind === 'error');
  if (failure) return sendJson(res, 500, { error: { type: 'server_error', code: null, param: null, ...failure.error } });
  let content = '';
  let finishReason = 'stop';
  let usage: Usage = { prompt_tokens: 0, completion_tokens: 0 };
  const calls = new Map<number, { id: string; type: 'function'; function: { name: string; arguments: string } }>();
  for (const step of steps) {
    if (step.kind === 'content') content += step.text;
    if (step.kind === 'finish') finishReason = step.reason;
    if (step.kind === 'usage') usage = step.usage;
    if (step.kind === 'tool_call_delta') {
      const call = calls.get(step.index) ?? { id: '', type: 'function' as const, function: { name: '', arguments: '' } };
      call.id ||= step.id ?? '';
      call.function.name ||= step.name ?? '';
      call.function.arguments += step.arguments ?? '';
      calls.set(step.index, call);
    }
  }
  const toolCalls = [...calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
  sendJson(res, 200, {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: 'fp_fake',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: content === '' && toolCalls.length > 0 ? null : content, refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: withTotal(usage),
  });
}
