/**
 * Jobs during a Redis outage. The job lock (SET NX PX) keeps a sweep to one
 * instance at a time; when Redis itself fails, the run goes ahead without the
 * lock (warned, `lock: 'bypassed'` in the log) instead of every instance
 * skipping the escalation tick and the dose sweep for as long as the outage
 * lasts. A lock another instance holds is still respected, and a job that
 * requires its lock is skipped. Against the real Redis (127.0.0.1:6379): a
 * client that was quit, one pointed at a closed port, and a whole hub whose
 * Redis connection goes through a TCP proxy that is then cut.
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket as NetSocket } from 'node:net';
import { Redis } from 'ioredis';
import t from 'tap';
import { createJobScheduler } from '../../src/jobs/scheduler.js';
import { createLogger } from '../../src/observability/logger.js';
import { ManualClock } from '../../src/ports/clock.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, collect, putPatientPolicy, signedInSocket } from '../alerts/helpers.js';
import { eventually } from '../helpers/devices.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisTarget = new URL(REDIS_URL);
const REDIS_HOST = redisTarget.hostname;
const REDIS_PORT = Number(redisTarget.port || 6379);

interface LogLine {
  level: number;
  msg: string;
  job?: string;
  lock?: string;
  err?: { message: string };
}

/** A logger whose lines the test reads (debug and up). */
function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

/** The hub's own Redis options (hub.ts connectRedis), under a prefix of the test's. */
function hubLikeRedis(t: { teardown(fn: () => unknown): void }, port = REDIS_PORT, prefix = `lockfb-${randomUUID().slice(0, 8)}:`): Redis {
  const redis = new Redis({ host: REDIS_HOST, port, lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, keyPrefix: prefix });
  redis.on('error', () => undefined);
  t.teardown(() => redis.disconnect());
  return redis;
}

/** A port nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const WARN = 40;

t.test('another instance holding the lock: the job is not run, and nothing is bypassed', async (t) => {
  const prefix = `lockfb-${randomUUID().slice(0, 8)}:`;
  const a = hubLikeRedis(t, REDIS_PORT, prefix);
  const b = hubLikeRedis(t, REDIS_PORT, prefix);
  await a.connect();
  await b.connect();
  const { logger, lines } = capturingLogger();
  const one = createJobScheduler(logger, a);
  const other = createJobScheduler(logger, b);
  let runs = 0;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  one.add('sweep', '0 0 1 1 *', async () => {
    runs += 1;
    await held;
  });
  other.add('sweep', '0 0 1 1 *', async () => void (runs += 1));
  const first = one.run('sweep');
  await eventually(async () => (await a.exists('job:sweep')) === 1);
  t.equal(await other.run('sweep'), false, 'held elsewhere: not run');
  release();
  t.equal(await first, true);
  t.equal(runs, 1, 'one run of the two');
  t.notOk(lines.some((l) => l.lock === 'bypassed'), 'a held lock is never bypassed');
  t.ok(lines.some((l) => l.msg === 'job ran' && l.lock === 'held'), 'the run that held the lock says so');
});

t.test('a Redis client that was quit: the job still runs, without the lock, and says so', async (t) => {
  const redis = hubLikeRedis(t);
  await redis.connect();
  await redis.quit();
  const { logger, lines } = capturingLogger();
  const jobs = createJobScheduler(logger, redis);
  let runs = 0;
  jobs.add('alerts.escalate', '* * * * *', async () => void (runs += 1));
  t.equal(await jobs.run('alerts.escalate'), true, 'the run is reported as run');
  t.equal(runs, 1, 'the body ran');
  const warning = lines.find((l) => l.lock === 'bypassed');
  t.match(warning, { level: WARN, job: 'alerts.escalate', lock: 'bypassed' }, 'a warning naming the job and the bypassed lock');
  t.notOk(lines.some((l) => l.msg === 'job failed'), 'not logged as a failed job');
  t.ok(lines.some((l) => l.msg === 'job ran' && l.lock === 'bypassed'));
  t.equal(await jobs.run('alerts.escalate'), true, 'and again at the next tick');
  t.equal(runs, 2);
});

t.test('Redis on a closed port: the job runs without the lock; a job that requires its lock is skipped', async (t) => {
  const redis = hubLikeRedis(t, await closedPort());
  const { logger, lines } = capturingLogger();
  const jobs = createJobScheduler(logger, redis);
  let sweeps = 0;
  let strict = 0;
  jobs.add('doses.sweep', '* * * * *', async () => void (sweeps += 1));
  jobs.add('only-once', '* * * * *', async () => void (strict += 1), { lockRequired: true });
  t.equal(await jobs.run('doses.sweep'), true);
  t.equal(sweeps, 1, 'the sweep ran');
  t.match(lines.find((l) => l.job === 'doses.sweep' && l.lock === 'bypassed'), { level: WARN });
  t.equal(await jobs.run('only-once'), false);
  t.equal(strict, 0, 'a job that requires its lock does not run without it');
  t.match(lines.find((l) => l.job === 'only-once'), { lock: 'unavailable' });
});

/**
 * A TCP proxy in front of Redis that the test can freeze: the connection stays up, but what the
 * client sends is held back until it thaws (a frozen Redis, or a network cut without a reset).
 */
async function freezableProxy(t: { teardown(fn: () => unknown): void }) {
  const sockets = new Set<NetSocket>();
  const held: Array<() => void> = [];
  let frozen = false;
  const server = createServer((client) => {
    const upstream = connect(REDIS_PORT, REDIS_HOST);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    client.on('data', (bytes: Buffer) => (frozen ? held.push(() => upstream.write(bytes)) : upstream.write(bytes)));
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => void (frozen = true),
    thaw: () => {
      frozen = false;
      for (const send of held.splice(0)) send();
    },
  };
}

t.test('a Redis that stops answering (connection up, no replies): jobs go on without the lock instead of hanging for good', async (t) => {
  const proxy = await freezableProxy(t);
  const prefix = `lockfb-${randomUUID().slice(0, 8)}:`;
  const redis = hubLikeRedis(t, proxy.port, prefix);
  await redis.connect();
  const direct = hubLikeRedis(t, REDIS_PORT, prefix);
  await direct.connect();
  const { logger, lines } = capturingLogger();
  const jobs = createJobScheduler(logger, redis, { redisTimeoutMs: 300 });
  let sweeps = 0;
  let strict = 0;
  jobs.add('doses.sweep', '* * * * *', async () => void (sweeps += 1));
  jobs.add('only-once', '* * * * *', async () => void (strict += 1), { lockRequired: true });
  t.equal(await jobs.run('doses.sweep'), true);
  t.ok(lines.some((l) => l.msg === 'job ran' && l.lock === 'held'), 'with the lock while Redis answers');

  proxy.freeze();
  const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
  t.equal(await Promise.race([jobs.run('doses.sweep'), hung]), true, 'the run goes ahead once the lock command goes unanswered');
  t.match(lines.find((l) => l.lock === 'bypassed'), { level: WARN, job: 'doses.sweep', err: { message: /did not answer the job lock within 300 ms/ } });
  t.equal(await Promise.race([jobs.run('doses.sweep'), hung]), true, 'and at the next tick: the job is not left marked as running');
  t.equal(sweeps, 3);
  t.equal(await Promise.race([jobs.run('only-once'), hung]), false, 'a job that requires its lock is skipped, not hung');
  t.equal(strict, 0);

  proxy.thaw();
  // The held SETs reach Redis now and take the lock after all: released as soon as their answer comes.
  await eventually(async () => (await direct.exists('job:doses.sweep', 'job:only-once')) === 0);
  t.pass('locks taken by late answers are released, not left to block other instances until they expire');
});

/** A TCP proxy in front of Redis that the test can cut (every connection closed, new ones refused) and restore. */
async function cuttableProxy(t: { teardown(fn: () => unknown): void }) {
  const sockets = new Set<NetSocket>();
  let server: Server | null = null;
  let port = 0;
  const open = async (): Promise<void> => {
    const s = createServer((client) => {
      const upstream = connect(REDIS_PORT, REDIS_HOST);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const cut = async (): Promise<void> => {
    const s = server;
    server = null;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise((resolve) => s.close(resolve));
  };
  await open();
  t.teardown(cut);
  return { url: () => `redis://127.0.0.1:${port}`, cut, restore: open };
}

t.test('a hub whose Redis goes away still runs alerts.escalate: the second tier is told', async (t) => {
  const proxy = await cuttableProxy(t);
  const clock = new ManualClock('2026-03-10T18:00:00Z');
  const lines: LogLine[] = [];
  const hub = await startTestHub(t, { clock, env: { REDIS_URL: proxy.url(), LOG_LEVEL: 'warn' }, logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) } });
  // Redis back before the hub closes (its teardown runs first: teardowns run in reverse order).
  t.teardown(() => proxy.restore());
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, {
    tiers: [
      { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket'] },
      { recipients: [{ careTeam: { priority: 2 } }], channels: ['socket'], delayMinutes: 10 },
    ],
  });
  const backup = await signedInSocket(t, hub, s.backup.token);
  const notes = collect<Record<string, unknown>>(backup, 'alert:notify');
  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-outage' });

  await proxy.cut();
  clock.advance(10 * 60_000);
  t.equal(await hub.context.jobs.run('alerts.escalate'), true, 'the tick ran during the outage');
  const stored = await hub.features.alerts.models.Alert.findById(alert.id).lean();
  t.equal(stored?.tier, 1, 'the alert moved to the second tier');
  await eventually(async () => notes.some((n) => n.alertId === alert.id && n.tier === 1));
  t.match(notes.find((n) => n.alertId === alert.id), { event: 'alert.escalated', tier: 1 }, 'whoever is on the second tier is told');
  t.ok(lines.some((l) => l.job === 'alerts.escalate' && l.lock === 'bypassed' && l.level === WARN), 'with a warning that the lock was bypassed');
});
