/**
 * node-cron, wrapped so that job bodies are plain async functions (tests call
 * them directly with a test clock) and so that a job never overlaps itself.
 * With Redis configured, each run first takes a Redis lock (SET NX PX),
 * extended while the run lasts, so that of several hub instances only one runs
 * a given sweep at a time; job bodies are written to be safe to run twice anyway.
 *
 * When Redis itself fails (the SET errors: Redis down, unreachable, the
 * connection closed), the run goes ahead without the lock rather than being
 * skipped: otherwise every instance would skip every job (the escalation tick,
 * the dose sweep) for as long as the outage lasts. Each instance may then run
 * the job at the same time, which every job registered today tolerates (their
 * writes are guarded: conditional updates, upserts on unique keys, claims). A
 * job that must not run twice says so with `lockRequired` and is skipped
 * instead. A lock another instance simply holds is never bypassed.
 *
 * A Redis that takes commands but never answers (frozen, a half-open connection after a network
 * cut) counts as failed: each lock command gets `redisTimeoutMs`. Unbounded, one hung SET left the
 * job marked running for good, and no sweep or escalation tick ran again on any instance.
 */
import { randomUUID } from 'node:crypto';
import cron, { type ScheduledTask } from 'node-cron';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';

export type JobBody = () => Promise<unknown>;

export interface JobScheduler {
  /** Registers a job; it starts with `start()`. */
  add(name: string, cronExpression: string, body: JobBody, options?: JobOptions): void;
  /**
   * Runs a job now, through the same lock as a scheduled run; resolves false when another run holds
   * it (or, for a `lockRequired` job, when Redis fails), true when the body ran — without the lock
   * when Redis failed.
   */
  run(name: string): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

export interface JobOptions {
  /** How long the Redis lock lasts before it is extended (default 55 s). */
  lockMs?: number;
  /**
   * Skip the run when the lock cannot be taken because Redis fails, instead of running without it
   * (default false: job bodies are written to be safe to run on several instances at once).
   */
  lockRequired?: boolean;
}

interface Job {
  name: string;
  expression: string;
  body: JobBody;
  lockMs: number;
  lockRequired: boolean;
  running?: Promise<unknown>;
  task?: ScheduledTask;
}

/**
 * How a run went about the lock: `none` (no Redis configured), `held` (taken), `busy` (another run
 * holds it: not run), `bypassed` (Redis failed: run without it), `unavailable` (Redis failed and
 * the job requires the lock: not run).
 */
type LockOutcome = 'none' | 'held' | 'busy' | 'bypassed' | 'unavailable';

const RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const EXTEND_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

export interface SchedulerOptions {
  /** How long a lock command may go unanswered before Redis counts as failed (default 2 s). */
  redisTimeoutMs?: number;
}

/** The promise, or a rejection once `ms` have passed without an answer. */
function answeredWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export function createJobScheduler(logger: Logger, redis?: Redis, { redisTimeoutMs = 2_000 }: SchedulerOptions = {}): JobScheduler {
  const log = logger.child({ component: 'jobs' });
  const jobs = new Map<string, Job>();
  let started = false;

  async function withLock(job: Job, fn: () => Promise<unknown>): Promise<LockOutcome> {
    if (!redis) {
      await fn();
      return 'none';
    }
    const key = `job:${job.name}`; // under the hub's REDIS_KEY_PREFIX
    const owner = randomUUID();
    let taken: string | null;
    const setting = redis.set(key, owner, 'PX', job.lockMs, 'NX');
    try {
      taken = await answeredWithin(setting, redisTimeoutMs, 'the job lock');
    } catch (error) {
      // An answer that comes after all must not keep the lock from others until it expires.
      setting.then((late) => (late === 'OK' ? redis.eval(RELEASE_IF_OWNER, 1, key, owner) : null)).catch(() => undefined);
      // Redis failed, not another instance holding the lock (SET NX then answers null).
      if (job.lockRequired) {
        log.error({ err: error, job: job.name, lock: 'unavailable' }, 'job skipped: its lock could not be taken because Redis failed');
        return 'unavailable';
      }
      log.warn({ err: error, job: job.name, lock: 'bypassed' }, 'job lock could not be taken because Redis failed; running the job without it (other instances may run it too)');
      await fn();
      return 'bypassed';
    }
    if (taken !== 'OK') return 'busy';
    const renewal = keepLock(redis, job, key, owner);
    try {
      await fn();
      return 'held';
    } finally {
      clearInterval(renewal);
      // Not answered in time: the lock expires on its own (lockMs), and the job is free to run again here.
      await answeredWithin(redis.eval(RELEASE_IF_OWNER, 1, key, owner), redisTimeoutMs, 'the lock release').catch(() => undefined);
    }
  }

  /**
   * A run may outlast its lock (a worst-case sweep, a slow store): the lock is extended every third
   * of its time while the body runs, so that another instance does not start the same job meanwhile.
   * The lock still expires on its own if this instance dies.
   */
  function keepLock(client: Redis, job: Job, key: string, owner: string): NodeJS.Timeout {
    const timer = setInterval(() => {
      client.eval(EXTEND_IF_OWNER, 1, key, owner, String(job.lockMs)).then(
        (extended) => {
          if (extended !== 1) log.warn({ job: job.name }, 'job lock lost while the job ran; another instance may run it too');
        },
        (error: unknown) => log.warn({ err: error, job: job.name }, 'could not extend a job lock'),
      );
    }, Math.max(10, Math.floor(job.lockMs / 3)));
    timer.unref();
    return timer;
  }

  async function run(name: string): Promise<boolean> {
    const job = jobs.get(name);
    if (!job) throw new Error(`unknown job ${name}`);
    if (job.running) return false;
    const started = performance.now();
    const execution = withLock(job, job.body);
    job.running = execution;
    try {
      const lock = await execution;
      const ran = lock === 'none' || lock === 'held' || lock === 'bypassed';
      if (ran) log.debug({ job: name, lock, ms: Math.round(performance.now() - started) }, 'job ran');
      return ran;
    } catch (error) {
      log.error({ err: error, job: name }, 'job failed');
      return false;
    } finally {
      job.running = undefined;
    }
  }

  function schedule(job: Job): void {
    job.task = cron.schedule(job.expression, () => void run(job.name), { name: job.name, noOverlap: true });
  }

  return {
    add(name, expression, body, options = {}) {
      if (!cron.validate(expression)) throw new Error(`invalid cron expression for ${name}: ${expression}`);
      const job: Job = { name, expression, body, lockMs: options.lockMs ?? 55_000, lockRequired: options.lockRequired ?? false };
      jobs.set(name, job);
      if (started) schedule(job);
    },
    run,
    start() {
      started = true;
      for (const job of jobs.values()) schedule(job);
    },
    async stop() {
      started = false;
      for (const job of jobs.values()) await job.task?.destroy();
      await Promise.allSettled([...jobs.values()].map((job) => job.running));
    },
  };
}
