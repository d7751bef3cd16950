import t from 'tap';
import { createVoicePort, DEEPGRAM_AGENT_URL, type DeepgramVoiceOptions } from '../../src/ports/adapters/deepgram/index.js';
import { ManualClock } from '../../src/ports/clock.js';
import type { PortLogger } from '../../src/ports/logger.js';
import { ToolRegistry } from '../../src/ports/tool-registry.js';
import { VoiceError, type VoicePort } from '../../src/ports/voice.js';
import { deepgramReply, startFakeDeepgramServer, type FakeDeepgramServer } from '../fakes/deepgram-server.js';

const API_KEY = 'dg-test-key';
const registry = ToolRegistry.load();

let server: FakeDeepgramServer;
t.before(async () => {
  server = await startFakeDeepgramServer({ apiKey: API_KEY });
});
t.teardown(() => server.close());

function voice(options: Partial<DeepgramVoiceOptions> = {}): VoicePort {
  // A generous deadline: it only guards against a hang, and the first grant of the file also loads
  // Node's fetch (undici), which took over 1 s on a loaded machine. Where fetch itself is meant to
  // fail (no answer, cancelled, refused) a test passes a short one: the SDK leaves its own (2x)
  // timeout timer running after such a failure, keeping the process alive that long.
  return createVoicePort({ apiKey: API_KEY, baseUrl: server.baseUrl, maxRetries: 0, timeoutMs: 10_000, ...options });
}

async function voiceError(promise: Promise<unknown>): Promise<VoiceError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof VoiceError) return error;
    throw error;
  }
  throw new Error('expected a VoiceError');
}

function recordingLogger(): PortLogger & { lines: string[] } {
  const lines: string[] = [];
  const write = (level: string) => (obj: object, msg?: string) => void lines.push(JSON.stringify({ level, obj, msg }));
  return { lines, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

t.test('grants a short-lived token through POST /v1/auth/grant with the API key', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const logger = recordingLogger();
  const before = server.requests.length;
  const token = await voice({ clock, logger }).grantToken({ ttlSeconds: 60 });

  const sent = server.requests[before];
  t.equal(sent?.method, 'POST');
  t.equal(sent?.path, '/v1/auth/grant');
  t.equal(sent?.headers.authorization, `Token ${API_KEY}`);
  t.same(sent?.body, { ttl_seconds: 60 });
  t.equal(token.accessToken, server.issuedTokens.at(-1));
  t.equal(token.accessToken.split('.').length, 3, 'a JWT');
  t.equal(token.expiresIn, 60);
  t.equal(token.expiresAt, '2026-03-10T12:01:00.000Z', 'expiry from the hub clock');
  t.notOk(logger.lines.some((line) => line.includes(token.accessToken) || line.includes(API_KEY)), 'neither token nor key is logged');
  t.ok(logger.lines.some((line) => line.includes('voice token granted')));
});

t.test('uses the configured default TTL', async (t) => {
  const before = server.requests.length;
  const token = await voice({ tokenTtlSeconds: 45 }).grantToken();
  t.same(server.requests[before]?.body, { ttl_seconds: 45 });
  t.equal(token.expiresIn, 45);
});

t.test('maps refusals to typed errors without upstream text', async (t) => {
  const unauthorized = await voiceError(voice({ apiKey: 'dg-wrong' }).grantToken());
  t.match(unauthorized, { code: 'unauthorized', status: 401, retryable: false });
  t.notMatch(unauthorized.message, 'Invalid credentials');

  const bad = await voiceError(voice().grantToken({ ttlSeconds: 99_999 }));
  t.match(bad, { code: 'bad_request', status: 400, retryable: false });

  server.enqueue(deepgramReply.error(429, 'TOO_MANY_REQUESTS', 'Too many requests'));
  t.match(await voiceError(voice().grantToken()), { code: 'rate_limited', status: 429, retryable: true });

  server.enqueue(deepgramReply.error(503, 'UNAVAILABLE', 'Service unavailable'));
  t.match(await voiceError(voice().grantToken()), { code: 'upstream_unavailable', status: 503, retryable: true });
});

t.test('retries a 503 once when asked to', async (t) => {
  server.enqueue(deepgramReply.error(503, 'UNAVAILABLE', 'Service unavailable', { 'retry-after': '1' }));
  const before = server.requests.length;
  const token = await voice({ maxRetries: 1 }).grantToken();
  t.ok(token.accessToken);
  t.equal(server.requests.length - before, 2);
});

t.test('times out, honours cancellation, and reports a missing server', async (t) => {
  server.enqueue(deepgramReply.hang());
  t.match(await voiceError(voice({ timeoutMs: 200 }).grantToken()), { code: 'timeout', retryable: true });

  server.enqueue(deepgramReply.hang());
  const controller = new AbortController();
  // The deadline is armed after this 50 ms timer and ends later, so the cancel always comes first.
  setTimeout(() => controller.abort(), 50);
  t.match(await voiceError(voice({ timeoutMs: 500 }).grantToken({ signal: controller.signal })), { code: 'cancelled', retryable: false });

  const gone = await startFakeDeepgramServer({ apiKey: API_KEY });
  const baseUrl = gone.baseUrl;
  await gone.close();
  // A refused connection fails at once; the deadline is only far enough not to win on a loaded machine.
  t.match(await voiceError(voice({ baseUrl, timeoutMs: 2_000 }).grantToken()), { code: 'upstream_unavailable' });
});

t.test('without an API key voice is unavailable, with a clear error rather than a crash', async (t) => {
  for (const apiKey of [undefined, '']) {
    const port = createVoicePort({ apiKey });
    t.equal(port.available, false);
    t.equal(port.agentUrl, DEEPGRAM_AGENT_URL);
    const error = await voiceError(port.grantToken());
    t.match(error, { code: 'voice_unavailable', retryable: false, message: 'Voice is unavailable: no voice provider is configured' });
    t.throws(() => port.agentSettings({ prompt: 'x', functions: [] }), { code: 'voice_unavailable' });
  }
  t.equal(voice().available, true);
});

t.test('builds agent Settings with the tool registry functions', async (t) => {
  const functions = registry.deepgramFunctions();
  const settings = voice().agentSettings({ prompt: 'You help Anna take her medication.', functions, greeting: 'Hello Anna, how can I help?' });

  t.equal(settings.type, 'Settings');
  t.same(settings.audio, { input: { encoding: 'linear16', sample_rate: 16000 }, output: { encoding: 'linear16', sample_rate: 24000, container: 'none' } });
  t.match(settings.agent.listen, { provider: { type: 'deepgram', model: 'nova-3' } });
  t.match(settings.agent.speak, { provider: { type: 'deepgram', model: 'aura-2-thalia-en' } });
  t.equal(settings.agent.greeting, 'Hello Anna, how can I help?');
  const think = settings.agent.think;
  if (!think || Array.isArray(think)) return t.fail('expected one think provider');
  t.match(think.provider, { type: 'open_ai', model: 'gpt-4o-mini' });
  t.equal(think.prompt, 'You help Anna take her medication.');
  t.same(think.functions, functions, 'think.functions are the registry functions');
  t.same(
    think.functions?.filter((fn) => fn.defer_until_eot).map((fn) => fn.name),
    ['log_symptom', 'confirm_dose', 'request_help'],
    'irreversible functions wait for the end of the turn',
  );
  t.notOk(think.functions?.some((fn) => 'endpoint' in fn), 'functions run client side');
  t.same(JSON.parse(JSON.stringify(settings)), settings, 'plain JSON, ready to send');

  const noGreeting = voice().agentSettings({ prompt: 'p', functions: registry.deepgramFunctions({ mutates: false }) });
  t.notOk('greeting' in noGreeting.agent);

  const custom = voice({ agent: { think: { type: 'open_ai', model: 'gpt-4.1-mini' } } }).agentSettings({ prompt: 'p', functions: [] });
  t.match(custom.agent.think, { provider: { model: 'gpt-4.1-mini' } });
});
