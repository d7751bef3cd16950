/**
 * Starts a whole hub in-process on free ports (HTTP, MQTT) with an in-memory
 * embedded store — or, when MONGO_URL is set, against that real MongoDB with a
 * database of its own — and stops it when the test ends. Its cron schedules are not started
 * (tests run the jobs themselves), unless a test asks for them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startHub, type Hub } from '../../src/hub.js';
import type { Clock } from '../../src/ports/clock.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface TestHubOptions {
  env?: Record<string, string>;
  clock?: Clock;
  /** Journal the embedded store to disk under DATA_DIR (tests that restart it). */
  persistentStore?: boolean;
  /** Where the hub's log lines go (with `env.LOG_LEVEL`), for tests that read what it logged. */
  logDestination?: { write(line: string): void };
  /**
   * Start the hub's node-cron schedules (default false): they tick on real minutes whatever the
   * test's clock says, so tests run job bodies themselves (`hub.context.jobs.run`, the services).
   */
  startJobs?: boolean;
}

export async function startTestHub(t: Teardown, options: TestHubOptions = {}): Promise<Hub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-test-'));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    MQTT_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: `test-secret-${randomUUID()}`,
    // Real argon2id at its cheapest: the tests are not about its cost (the default takes ~75 ms of CPU per hash).
    PASSWORD_HASH_MEMORY_KIB: '1024',
    PASSWORD_HASH_TIME_COST: '1',
    // Failed logins answered at once, not after the 1 s floor: tests of the floor set it themselves.
    LOGIN_FAILURE_MIN_MS: '0',
    // Heartbeats written every 50 ms, whatever the test process's own load: the pacing test sets it.
    HEARTBEAT_MAX_PAUSE_MS: '50',
    // device.offline at once: the tests of its grace set one themselves.
    DEVICE_OFFLINE_ALERT_SECONDS: '0',
    // Test files run side by side on one Redis: each hub (or pair, sharing it) keeps its own keys and streams.
    REDIS_KEY_PREFIX: `test-${randomUUID().slice(0, 8)}:`,
    ...(process.env.MONGO_URL ? { MONGO_URL: withDatabase(process.env.MONGO_URL, `medhub_test_${randomUUID().slice(0, 8)}`) } : {}),
    ...options.env,
  };
  const hub = await startHub({ config: loadConfig(env), inMemoryStore: !options.persistentStore, clock: options.clock, logDestination: options.logDestination, startJobs: options.startJobs ?? false });
  t.teardown(async () => {
    if (process.env.MONGO_URL) await hub.context.store.connection.dropDatabase().catch(() => undefined);
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return hub;
}

/** Puts a database name into a MongoDB URL, keeping its options. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The connection string of a hub's database, for a second instance that shares it: its embedded store, or its database on the real MongoDB. */
export function sharedStoreUrl(hub: Hub): string {
  const database = hub.context.store.connection.db?.databaseName;
  const url = hub.context.store.embeddedUri ?? process.env.MONGO_URL;
  if (!url || !database) throw new Error('the hub has no store to share');
  return withDatabase(url, database);
}

/**
 * Two hub instances as behind a load balancer: one database (hub A's, see sharedStoreUrl), one
 * Redis, one JWT secret. Hub B is stopped before hub A, whose store it uses.
 */
export async function startHubPair(t: Teardown, options: Pick<TestHubOptions, 'clock'> = {}): Promise<{ a: Hub; b: Hub }> {
  const env = { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', JWT_SECRET: `shared-secret-${randomUUID()}`, REDIS_KEY_PREFIX: `pair-${randomUUID().slice(0, 8)}:` };
  const a = await startTestHub(t, { ...options, env });
  const b = await startTestHub(t, { ...options, env: { ...env, MONGO_URL: sharedStoreUrl(a) } });
  t.teardown(() => b.close());
  return { a, b };
}

/** The store commands the hub sends while `run` runs, in order, with their collections. */
export async function storeCommandsDuring(hub: Hub, run: () => Promise<unknown>): Promise<Array<{ command: string; collection: unknown }>> {
  const seen: Array<{ command: string; collection: unknown }> = [];
  const stop = hub.context.store.onCommand((command, collection) => void seen.push({ command, collection }));
  try {
    await run();
  } finally {
    stop();
  }
  return seen;
}
