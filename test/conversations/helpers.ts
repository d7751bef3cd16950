/**
 * Helpers for the chat tests: a hub pointed at the fake OpenAI server (or offline), with its log lines
 * captured; a scenario with a conversation; an SSE reader over fetch; token collectors for sockets.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import type { Hub } from '../../src/hub.js';
import type { Clock } from '../../src/ports/clock.js';
import { sharedStoreUrl, startTestHub } from '../helpers/hub.js';
import { request, type AnyBody } from '../helpers/clients.js';
import { careScenario, type Login } from '../helpers/factories.js';
import { startFakeOpenAIServer, type FakeOpenAIServer } from '../fakes/openai-server.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const OPENAI_KEY = 'sk-test-chat';

export interface ChatHub extends Hub {
  /** Every log line the hub wrote (level debug and up). */
  logLines: string[];
}

/** A hub with logs captured at debug level; `openai` points the assistant at the fake server. */
export async function startChatHub(t: Teardown, options: { openai?: FakeOpenAIServer } = {}): Promise<ChatHub> {
  const logLines: string[] = [];
  const hub = await startTestHub(t, {
    env: {
      LOG_LEVEL: 'debug',
      ...(options.openai ? { OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: options.openai.baseURL, OPENAI_MODEL: 'gpt-test' } : {}),
    },
    logDestination: { write: (line: string) => void logLines.push(line) },
  });
  return Object.assign(hub, { logLines });
}

export type Scenario = Awaited<ReturnType<typeof careScenario>>;

/** The fake OpenAI server, a hub pointed at it and a care scenario; all closed when the test ends. */
export async function startChatFixture(t: Teardown): Promise<{ server: FakeOpenAIServer; hub: ChatHub; s: Scenario }> {
  const server = await startFakeOpenAIServer({ apiKey: OPENAI_KEY });
  t.teardown(() => server.close());
  const hub = await startChatHub(t, { openai: server });
  return { server, hub, s: await careScenario(hub) };
}

/**
 * Two instances pointed at one fake OpenAI server, as startHubPair sets them up (hub A's database,
 * one Redis, one JWT secret, one key prefix), with a care scenario. Hub B stops first (teardowns run last-in first-out).
 */
export async function startChatPair(t: Teardown, options: { clock?: Clock } = {}): Promise<{ server: FakeOpenAIServer; a: Hub; b: Hub; s: Scenario }> {
  const server = await startFakeOpenAIServer({ apiKey: OPENAI_KEY });
  t.teardown(() => server.close());
  const env = {
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    JWT_SECRET: `shared-secret-${randomUUID()}`,
    REDIS_KEY_PREFIX: `pair-${randomUUID().slice(0, 8)}:`,
    OPENAI_API_KEY: OPENAI_KEY,
    OPENAI_BASE_URL: server.baseURL,
    OPENAI_MODEL: 'gpt-test',
  };
  const a = await startTestHub(t, { ...options, env });
  const b = await startTestHub(t, { ...options, env: { ...env, MONGO_URL: sharedStoreUrl(a) } });
  return { server, a, b, s: await careScenario(a) };
}

export async function createConversation(hub: Hub, who: Login, patientId: string, body: Record<string, unknown> = {}): Promise<AnyBody> {
  const response = await request(hub, 'POST', '/api/v1/conversations', { token: who.token, body: { patientId, ...body } });
  if (response.status !== 201) throw new Error(`create conversation failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export interface SseEvent {
  event: string;
  data: AnyBody;
}

/** POSTs /chat/message with stream:true and reads the SSE events; `stopAfter` aborts the request after that many events. */
export async function chatStream(hub: Hub, token: string, body: Record<string, unknown>, options: { stopAfter?: number; onEvent?: (event: SseEvent) => void } = {}): Promise<{ status: number; headers: Headers; events: SseEvent[]; problem?: AnyBody }> {
  const controller = new AbortController();
  const response = await fetch(`${hub.urls.api}/chat/message`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ stream: true, ...body }),
    signal: controller.signal,
  });
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    return { status: response.status, headers: response.headers, events: [], problem: (await response.json()) as AnyBody };
  }
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const parsed = parseBlock(block);
        if (!parsed) continue;
        events.push(parsed);
        options.onEvent?.(parsed);
        if (options.stopAfter !== undefined && events.length >= options.stopAfter) {
          controller.abort();
          return { status: response.status, headers: response.headers, events };
        }
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return { status: response.status, headers: response.headers, events };
}

function parseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data.push(line.slice(6));
  }
  return data.length > 0 ? { event, data: JSON.parse(data.join('\n')) as AnyBody } : undefined;
}

/** Collects a socket's chat events for one answer until chat:complete or chat:error. */
export function collectAnswer(socket: Socket, ms = 5000): Promise<{ tokens: AnyBody[]; started?: AnyBody; end: { event: string; payload: AnyBody } }> {
  return new Promise((resolve, reject) => {
    const tokens: AnyBody[] = [];
    let started: AnyBody | undefined;
    const timer = setTimeout(() => finish(new Error('timed out waiting for the end of the answer')), ms);
    const onStarted = (payload: AnyBody): void => void (started = payload);
    const onToken = (payload: AnyBody): void => void tokens.push(payload);
    const onComplete = (payload: AnyBody): void => finish(undefined, { event: 'chat:complete', payload });
    const onError = (payload: AnyBody): void => finish(undefined, { event: 'chat:error', payload });
    socket.on('chat:started', onStarted);
    socket.on('chat:token', onToken);
    socket.on('chat:complete', onComplete);
    socket.on('chat:error', onError);
    function finish(error?: Error, end?: { event: string; payload: AnyBody }): void {
      clearTimeout(timer);
      socket.off('chat:started', onStarted);
      socket.off('chat:token', onToken);
      socket.off('chat:complete', onComplete);
      socket.off('chat:error', onError);
      if (error || !end) reject(error);
      else resolve({ tokens, started, end });
    }
  });
}

/** Waits until `check` holds (polling), for state that settles asynchronously (stored messages). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Validates a payload against one of the hub's schemas (the wire contract), returning the problems. */
export function schemaProblems(hub: Hub, name: string, payload: unknown): unknown[] {
  const result = hub.context.schemas.check(name, payload);
  return result.ok ? [] : result.details;
}
