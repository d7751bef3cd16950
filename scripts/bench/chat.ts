/**
 * Chat streaming benchmark: `npm run bench:chat`.
 *
 * The hub runs in its own process (`src/main.ts`, as an operator runs it) with OPENAI_BASE_URL pointing
 * at the fake Chat Completions server (test/fakes/openai-server.ts), which runs here behind a small TCP
 * proxy. The proxy notes the instant it hands the hub the bytes of the answer's first content chunk;
 * the clients here note when the first token arrives. The difference is the hub's added latency to the
 * first token (upstream chunk → SDK parse → tool loop → emit → loopback → client parse), on one clock.
 *
 *  1. Added latency to first token, one turn at a time: over SSE (`POST /chat/message`, stream:true) and
 *     over Socket.IO (`chat:send`, first `chat:token` at the sender). p50/p99/max.
 *  2. Fan-out: `--watchers` sockets (default 1,000) join one conversation; answers of `--tokens` tokens
 *     (default 500) stream as fast as the fake server writes them. Every watcher must receive every token
 *     in order (checked), then `chat:complete`. Reports deliveries/s, tokens/s and the spread between the
 *     first and the last watcher.
 *
 * The fake model waits `--upstream-ttft` ms (default 50; real models take hundreds) before its first
 * chunk, so the measurement is of the streaming path, not of the turn's start-up writes (answer and
 * audit records) that a 0 ms upstream would overlap; in phase 1 it then sends a chunk every
 * `--upstream-token-ms` (default 10, i.e. 100 tokens/s, a fast real model). Phase 2 sends as fast as it can.
 *
 * Options: --turns 200 (per transport) --warmup 20 --watchers 1000 --tokens 500 --fanout-turns 3
 *          --upstream-ttft 50 --upstream-token-ms 10 --hub-node-args='…' --json
 */
import { request as httpRequest } from 'node:http';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Socket as TcpSocket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { reply, startFakeOpenAIServer, type FakeReply, type StreamStep } from '../../test/fakes/openai-server.js';
import { api, cpuMillis, login, rssBytes, startHubProcess, type HubProcess } from './lib/hub-process.js';

const { values } = parseArgs({
  options: {
    turns: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    watchers: { type: 'string', default: '1000' },
    tokens: { type: 'string', default: '500' },
    'fanout-turns': { type: 'string', default: '3' },
    'upstream-ttft': { type: 'string', default: '50' },
    'upstream-token-ms': { type: 'string', default: '10' },
    'hub-node-args': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});
const TURNS = Number(values.turns);
const WARMUP = Number(values.warmup);
const WATCHERS = Number(values.watchers);
const TOKENS = Number(values.tokens);
const FANOUT_TURNS = Number(values['fanout-turns']);
/** The fake model's time to first token. A real model takes 100s of ms; 0 overlaps the hub's turn-start bookkeeping. */
const UPSTREAM_TTFT = Number(values['upstream-ttft']);
/** Pause between the fake model's chunks in the latency phase (10 ms ≈ 100 tokens/s, a fast real model). */
const UPSTREAM_TOKEN_MS = Number(values['upstream-token-ms']);

const API_KEY = 'sk-bench';
const ADMIN = { email: 'bench-admin@example.org', password: 'bench password 12345' };

// ── upstream: the fake server behind a timing proxy ──────────────────────────

/** The marker of the turn being measured; the proxy stamps the chunk that carries it. */
let marker = '';
let upstreamFirstChunkAt = 0;
let markerSeen: (() => void) | undefined;

async function startTimingProxy(targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<TcpSocket>();
  const server = createTcpServer({ noDelay: true }, (hubSide) => {
    const upstream = tcpConnect({ port: targetPort, host: '127.0.0.1', noDelay: true });
    sockets.add(hubSide).add(upstream);
    hubSide.pipe(upstream);
    let tail = '';
    upstream.on('data', (chunk: Buffer) => {
      if (marker !== '') {
        const text = tail + chunk.toString('latin1');
        if (text.includes(`"content":"${marker}`)) {
          upstreamFirstChunkAt = performance.now();
          marker = '';
          markerSeen?.();
        }
        tail = text.slice(-64);
      }
      hubSide.write(chunk);
    });
    upstream.on('end', () => hubSide.end());
    const close = (): void => {
      hubSide.destroy();
      upstream.destroy();
      sockets.delete(hubSide);
      sockets.delete(upstream);
    };
    hubSide.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(first: string, words: number): string {
  const vocabulary = ['your', 'next', 'dose', 'is', 'recorded', 'by', 'the', 'care', 'team', 'today'];
  return [first, ...Array.from({ length: words - 1 }, (_, i) => vocabulary[i % vocabulary.length])].join(' ');
}

/** The answer streamed one word per chunk after UPSTREAM_TTFT ms, then stop, usage and [DONE]. */
function scripted(first: string, words: number, pauseMs = 0): FakeReply {
  const text = answer(first, words);
  const chunks: StreamStep[] = (text.match(/\s*\S+/g) ?? []).flatMap((word, i): StreamStep[] =>
    i > 0 && pauseMs > 0 ? [{ kind: 'pause', ms: pauseMs }, { kind: 'content', text: word }] : [{ kind: 'content', text: word }],
  );
  const pause: StreamStep[] = UPSTREAM_TTFT > 0 ? [{ kind: 'pause', ms: UPSTREAM_TTFT }] : [];
  return reply.steps(...pause, ...chunks, { kind: 'finish', reason: 'stop' }, { kind: 'usage', usage: { prompt_tokens: 100, completion_tokens: words } }, { kind: 'done' });
}

// ── clients ──────────────────────────────────────────────────────────────────

/** One SSE turn over raw node:http; resolves with the instant the first `token` event arrived. */
function sseTurn(hub: HubProcess, token: string, conversationId: string, content: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let firstToken = 0;
    let buffer = '';
    const req = httpRequest(
      `${hub.api}/chat/message`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`SSE status ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (firstToken === 0 && chunk.includes('event: token')) firstToken = performance.now();
          buffer = (buffer + chunk).slice(-4096);
        });
        res.on('end', () => (buffer.includes('event: complete') ? resolve(firstToken) : reject(new Error('SSE ended without complete'))));
      },
    );
    req.setNoDelay(true);
    req.on('error', reject);
    req.end(JSON.stringify({ conversationId, content, stream: true }));
  });
}

async function connectSocket(hub: HubProcess, token: string): Promise<Socket> {
  const socket = io(hub.http, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

// ── statistics ───────────────────────────────────────────────────────────────

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

function summary(samples: number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (ms: number): number => Math.round(ms * 1000) / 1000;
  return { n: sorted.length, p50: r(quantile(sorted, 0.5)), p99: r(quantile(sorted, 0.99)), max: r(sorted.at(-1) ?? Number.NaN), mean: r(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}

// ── phases ───────────────────────────────────────────────────────────────────

async function measureAddedLatency(run: (content: string) => Promise<number>, enqueue: (first: string) => void, label: string): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + TURNS; i++) {
    const first = `${label}${i}q`;
    enqueue(first);
    marker = first;
    upstreamFirstChunkAt = 0;
    const clientFirstToken = await run(`question ${i}`);
    if (upstreamFirstChunkAt === 0) throw new Error(`the proxy did not see the first chunk of turn ${i}`);
    if (i >= WARMUP) samples.push(clientFirstToken - upstreamFirstChunkAt);
  }
  return samples;
}

interface FanoutTurn {
  tokens: number;
  deliveries: number;
  /** Upstream first content chunk → first token at the first / at the last watcher. */
  firstTokenFirstWatcherMs: number;
  firstTokenLastWatcherMs: number;
  /** First token at any watcher → last token at the last watcher. */
  durationMs: number;
  deliveriesPerSecond: number;
  tokensPerSecond: number;
  inOrder: boolean;
}

async function fanoutTurn(sender: Socket, watchers: Socket[], conversationId: string, enqueue: (first: string) => void, turn: number): Promise<FanoutTurn> {
  const first = `fan${turn}q`;
  const expectedText = answer(first, TOKENS);
  const expectedTokens = expectedText.match(/\s*\S+/g)?.length ?? 0;
  let firstAt = 0;
  let lastFirstAt = 0;
  let lastAt = 0;
  let firstTokens = 0;
  let completes = 0;
  let deliveries = 0;
  let inOrder = true;
  const finished = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fan-out turn ${turn} timed out (${completes}/${watchers.length} complete)`)), 120_000);
    for (const socket of watchers) {
      let next = 0;
      const onToken = (event: { index: number }): void => {
        const now = performance.now();
        deliveries += 1;
        if (event.index !== next) inOrder = false;
        next = event.index + 1;
        if (event.index === 0) {
          if (firstAt === 0) firstAt = now;
          firstTokens += 1;
          if (firstTokens === watchers.length) lastFirstAt = now;
        }
        lastAt = now;
      };
      const onComplete = (event: { message: { content: string; tokens: number } }): void => {
        if (next !== expectedTokens || event.message.tokens !== expectedTokens || event.message.content !== expectedText) inOrder = false;
        socket.off('chat:token', onToken);
        socket.off('chat:complete', onComplete);
        completes += 1;
        if (completes === watchers.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      socket.on('chat:token', onToken);
      socket.on('chat:complete', onComplete);
    }
  });
  enqueue(first);
  marker = first;
  upstreamFirstChunkAt = 0;
  const ack = (await sender.timeout(30_000).emitWithAck('chat:send', { conversationId, content: `fan-out ${turn}` })) as { ok: boolean };
  if (!ack.ok) throw new Error(`chat:send refused: ${JSON.stringify(ack)}`);
  await finished;
  const durationMs = lastAt - firstAt;
  return {
    tokens: expectedTokens,
    deliveries,
    firstTokenFirstWatcherMs: round(firstAt - upstreamFirstChunkAt),
    firstTokenLastWatcherMs: round(lastFirstAt - upstreamFirstChunkAt),
    durationMs: round(durationMs),
    deliveriesPerSecond: Math.round(deliveries / (durationMs / 1000)),
    tokensPerSecond: Math.round(expectedTokens / (durationMs / 1000)),
    inOrder: inOrder && deliveries === expectedTokens * watchers.length,
  };
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

// ── main ─────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const fake = await startFakeOpenAIServer({ apiKey: API_KEY });
  const proxy = await startTimingProxy(Number(new URL(fake.origin).port));
  const dataDir = await mkdtemp(join(tmpdir(), 'medhub-bench-chat-'));
  const hub = await startHubProcess({
    dataDir,
    adminEmail: ADMIN.email,
    adminPassword: ADMIN.password,
    jwtSecret: 'bench-secret-0123456789abcdef0123456789',
    logLevel: 'warn',
    nodeArgs: values['hub-node-args'].split(' ').filter(Boolean),
    env: { OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: `http://127.0.0.1:${proxy.port}/v1`, OPENAI_MODEL: 'gpt-bench' },
  });
  try {
    const admin = await login(hub.api, ADMIN.email, ADMIN.password);
    const patient = await api<{ id: string }>(hub.api, 'POST', '/patients', { token: admin.token, body: { name: 'Bench Patient', timezone: 'Europe/Paris' } });
    const newConversation = async (): Promise<string> => (await api<{ id: string }>(hub.api, 'POST', '/conversations', { token: admin.token, body: { patientId: patient.id } })).id;

    // 1. Added latency to the first token, one turn at a time.
    const sseConversation = await newConversation();
    const sse = await measureAddedLatency((content) => sseTurn(hub, admin.token, sseConversation, content), (first) => fake.enqueue(scripted(first, 20, UPSTREAM_TOKEN_MS)), 'sse');

    const socketConversation = await newConversation();
    const sender = await connectSocket(hub, admin.token);
    const socketSamples = await measureAddedLatency(
      async (content) => {
        const done = new Promise<number>((resolve) => {
          let firstToken = 0;
          const onToken = (): void => void (firstToken ||= performance.now());
          sender.on('chat:token', onToken);
          sender.once('chat:complete', () => {
            sender.off('chat:token', onToken);
            resolve(firstToken);
          });
        });
        const ack = (await sender.emitWithAck('chat:send', { conversationId: socketConversation, content })) as { ok: boolean };
        if (!ack.ok) throw new Error(`chat:send refused: ${JSON.stringify(ack)}`);
        return done;
      },
      (first) => fake.enqueue(scripted(first, 20, UPSTREAM_TOKEN_MS)),
      'sock',
    );

    if (process.env.BENCH_DEBUG) {
      const metrics = await fetch(`${hub.http}/metrics`).then((response) => response.text());
      console.error(metrics.split('\n').filter((line) => /^medhub_nodejs_(gc_duration|eventloop_lag_(p99|max|mean))/.test(line)).join('\n'));
    }

    // 2. Fan-out to many watching sockets.
    const fanoutConversation = await newConversation();
    const watchers: Socket[] = [];
    const connectStarted = performance.now();
    for (let i = 0; i < WATCHERS; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, WATCHERS - i) }, () => connectSocket(hub, admin.token)));
      await Promise.all(batch.map(async (socket) => {
        const joined = (await socket.timeout(30_000).emitWithAck('conversation:join', { conversationId: fanoutConversation })) as { ok: boolean };
        if (!joined.ok) throw new Error('conversation:join refused');
      }));
      watchers.push(...batch);
    }
    const connectMs = performance.now() - connectStarted;
    const hubRssWithWatchers = rssBytes(hub.pid);
    const cpuBefore = cpuMillis(hub.pid);
    const fanout: FanoutTurn[] = [];
    for (let turn = 0; turn < FANOUT_TURNS; turn++) fanout.push(await fanoutTurn(sender, watchers, fanoutConversation, (first) => fake.enqueue(scripted(first, TOKENS)), turn));
    const hubCpuMs = cpuMillis(hub.pid) - cpuBefore;

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
      addedLatencyToFirstTokenMs: { sse: summary(sse), socket: summary(socketSamples) },
      fanout: {
        watchers: WATCHERS,
        tokensPerAnswer: TOKENS,
        connectAndJoinMs: Math.round(connectMs),
        hubRssMiB: Math.round(hubRssWithWatchers / 2 ** 20),
        hubCpuMsForAllTurns: hubCpuMs,
        turns: fanout,
        everyTokenInOrder: fanout.every((turn) => turn.inOrder),
      },
    };
    for (const socket of [...watchers, sender]) socket.close();
    if (process.env.BENCH_DEBUG) console.error('slowest sse', [...sse].sort((a, b) => b - a).slice(0, 8).map((x) => x.toFixed(2)).join(' '), '| socket', [...socketSamples].sort((a, b) => b - a).slice(0, 8).map((x) => x.toFixed(2)).join(' '), '| sse order', sse.map((x) => (x > 5 ? 'X' : '.')).join(''));
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else print(result);
    if (!result.fanout.everyTokenInOrder) process.exitCode = 1;
  } finally {
    await hub.stop();
    await proxy.close();
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function print(result: {
  machine: { cpus: number; cpuModel?: string; memoryGiB: number; node: string };
  addedLatencyToFirstTokenMs: Record<string, ReturnType<typeof summary>>;
  fanout: { watchers: number; tokensPerAnswer: number; connectAndJoinMs: number; hubRssMiB: number; hubCpuMsForAllTurns: number; turns: FanoutTurn[]; everyTokenInOrder: boolean };
}): void {
  const { machine, addedLatencyToFirstTokenMs: latency, fanout } = result;
  console.log(`medhub chat benchmark — ${machine.cpus} cores (${machine.cpuModel ?? '?'}), ${machine.memoryGiB} GiB, Node ${machine.node}`);
  console.log(`\nAdded latency to first token (upstream first chunk → client's first token), ${TURNS} turns each after ${WARMUP} warm-up:`);
  for (const [transport, s] of Object.entries(latency)) console.log(`  ${transport.padEnd(7)} p50 ${s.p50.toFixed(3)} ms   p99 ${s.p99.toFixed(3)} ms   max ${s.max.toFixed(3)} ms   mean ${s.mean.toFixed(3)} ms`);
  console.log(`\nFan-out: ${fanout.watchers} watching sockets (connected and joined in ${fanout.connectAndJoinMs} ms; hub RSS ${fanout.hubRssMiB} MiB), ${fanout.tokensPerAnswer}-token answers:`);
  for (const [i, turn] of fanout.turns.entries()) {
    console.log(
      `  turn ${i + 1}: ${turn.deliveries} token deliveries in ${turn.durationMs} ms = ${turn.deliveriesPerSecond.toLocaleString('en')} deliveries/s (${turn.tokensPerSecond} tokens/s to every watcher); ` +
        `first token at first/last watcher +${turn.firstTokenFirstWatcherMs}/+${turn.firstTokenLastWatcherMs} ms; in order: ${turn.inOrder ? 'yes' : 'NO'}`,
    );
  }
  console.log(`  hub CPU for the fan-out turns: ${fanout.hubCpuMsForAllTurns} ms`);
  console.log(`\nEvery watcher received every token in order: ${fanout.everyTokenInOrder ? 'yes' : 'NO'}`);
}

await main();
