/**
 * The hub's database: mongoose on MONGO_URL in production, else the embedded
 * MongoDB-compatible store (src/store/embedded) under DATA_DIR. Either way the
 * rest of the hub sees one mongoose Connection; features register their models
 * on it (never on mongoose's global default connection, so several hubs can
 * live in one process, as the tests do).
 */
import { join, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Gauge } from 'prom-client';
import mongoose, { type Connection } from 'mongoose';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { startEmbeddedStore, type EmbeddedStore, type EmbeddedStoreOptions } from './embedded/index.js';
import { startEmbeddedStoreInWorker } from './embedded/worker.js';

export interface StoreOptions {
  mongoUrl: string | undefined;
  dataDir: string;
  /** Embedded store only: keep everything in memory (tests). */
  inMemory?: boolean;
  /**
   * Embedded store only: run it on this event loop or on a worker thread of its own (the hub's
   * default, EMBEDDED_STORE_THREAD; a store on disk only: in-memory stores are for tests, where a
   * thread costs start-up time).
   */
  thread?: 'main' | 'worker';
  /** Embedded store on a worker thread: the thread ended unasked, and the store is gone for good (after it is logged). */
  onLost?: (error: Error) => void;
  logger: Logger;
  metrics: Metrics;
}

export interface Store {
  readonly connection: Connection;
  /** 'embedded' or 'mongodb'. */
  readonly kind: 'embedded' | 'mongodb';
  /** Connection string of the embedded store, for tools (mongosh) to use. */
  readonly embeddedUri: string | undefined;
  /** The embedded store itself (tests stop and restart it to prove nothing is acknowledged while it is down). */
  readonly embedded: EmbeddedStore | undefined;
  /** Calls `listener` with each command the hub's store commands run (name, collection); answers the unsubscribe. For tests that count round trips (with the store on a worker thread, up to 50 ms after the command). */
  onCommand(listener: CommandListener): () => void;
  ping(): Promise<number>;
  close(): Promise<void>;
}

export async function openStore({ mongoUrl, dataDir, inMemory = false, thread = 'main', onLost, logger, metrics }: StoreOptions): Promise<Store> {
  const log = logger.child({ component: 'store' });
  const onWorker = thread === 'worker' && !inMemory;
  // The embedded store times its commands itself (from its thread, in batches); MongoDB's are
  // timed by the driver's command monitoring, which decodes every reply a second time.
  const timedByStore = !mongoUrl;
  const listeners = new Set<CommandListener>();
  const onCommand = (command: string, seconds: number, ok: boolean, collection: string | undefined): void => {
    metrics.storeCommands.observe({ command, outcome: ok ? 'ok' : 'error' }, seconds);
    tell(listeners, command, collection, log);
  };
  const embedded = mongoUrl ? undefined : await startEmbedded({ dataDir: resolve(join(dataDir, 'store')), port: 0, host: '127.0.0.1', inMemory, logger: log, ...(timedByStore ? { onCommand } : {}) }, onWorker, onLost, (worker) => observeThread(worker, metrics));
  const uri = mongoUrl ?? (embedded as { uri: string }).uri;

  const connection = mongoose.createConnection(uri, {
    monitorCommands: !timedByStore,
    serverSelectionTimeoutMS: 10_000,
    // Indexes are part of the contract (unique device serials, event ids): build them at start.
    autoIndex: true,
    // A URL without a database path would land in the driver's default `test` database.
    ...(namesDatabase(uri) ? {} : { dbName: DEFAULT_DATABASE }),
  });
  if (!timedByStore) observeCommands(connection, metrics, listeners, log);
  await connection.asPromise();
  log.info({ kind: embedded ? 'embedded' : 'mongodb', thread: embedded ? (onWorker ? 'worker' : 'main') : undefined }, 'store connected');
  let closed: Promise<void> | undefined;

  return {
    connection,
    kind: embedded ? 'embedded' : 'mongodb',
    embeddedUri: embedded?.uri,
    embedded,
    onCommand(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async ping() {
      const started = performance.now();
      const db = connection.db;
      if (!db) throw new Error('store not connected');
      await db.admin().command({ ping: 1 });
      return performance.now() - started;
    },
    close() {
      closed ??= (async () => {
        try {
          await connection.close();
        } finally {
          // Even when the driver fails to close: a store thread left running would keep the process alive.
          await embedded?.close();
        }
      })();
      return closed;
    },
  };
}

function startEmbedded(options: EmbeddedStoreOptions & { logger: Logger }, onWorker: boolean, onLost: StoreOptions['onLost'], onThread: (worker: Worker) => void): Promise<EmbeddedStore> {
  if (!onWorker) return startEmbeddedStore(options);
  return startEmbeddedStoreInWorker({
    ...options,
    onThread,
    // Commands fail and nothing is acknowledged from now on; /ready reports the store down, and
    // `onLost` decides the rest (the process exits: nothing would ever start the thread again).
    onUnexpectedExit: (error) => {
      options.logger.error({ err: error.message }, 'embedded store thread stopped unexpectedly');
      onLost?.(error);
    },
  });
}

/**
 * How busy the store's thread was since the previous scrape (0–1): the process's own gauges
 * (event-loop lag, heap, garbage collection) cover only the hub's thread.
 */
function observeThread(worker: Worker, metrics: Metrics): void {
  let since = worker.performance.eventLoopUtilization();
  new Gauge({
    name: 'medhub_store_thread_event_loop_utilization',
    help: "Share of the time the embedded store's thread was busy since the previous scrape (0-1).",
    registers: [metrics.registry],
    collect() {
      const now = worker.performance.eventLoopUtilization();
      this.set(worker.performance.eventLoopUtilization(now, since).utilization);
      since = now;
    },
  });
}

/** The database the hub uses when MONGO_URL names none (and always in the embedded store). */
export const DEFAULT_DATABASE = 'medhub';

function namesDatabase(uri: string): boolean {
  // mongodb://user:pass@h1,h2/db?opts — the database is the path after the host list.
  const afterScheme = uri.replace(/^mongodb(\+srv)?:\/\//, '');
  const slash = afterScheme.indexOf('/');
  if (slash < 0) return false;
  const database = afterScheme.slice(slash + 1).split('?')[0] ?? '';
  return decodeURIComponent(database).length > 0;
}

export type CommandListener = (command: string, collection: string | undefined) => void;

function tell(listeners: Set<CommandListener>, command: string, collection: string | undefined, log: Logger): void {
  for (const listener of listeners) {
    try {
      listener(command, collection);
    } catch (error) {
      log.error({ err: error, command }, 'store command listener failed');
    }
  }
}

function observeCommands(connection: Connection, metrics: Metrics, listeners: Set<CommandListener>, log: Logger): void {
  const client = connection.getClient();
  const started = new Map<number, number>();
  client.on('commandStarted', (event) => {
    started.set(event.requestId, performance.now());
    const target: unknown = event.command[event.commandName];
    tell(listeners, event.commandName, typeof target === 'string' ? target : undefined, log);
  });
  const finish = (requestId: number, command: string, outcome: 'ok' | 'error'): void => {
    const begin = started.get(requestId);
    if (begin === undefined) return;
    started.delete(requestId);
    metrics.storeCommands.observe({ command, outcome }, (performance.now() - begin) / 1000);
  };
  client.on('commandSucceeded', (event) => finish(event.requestId, event.commandName, 'ok'));
  client.on('commandFailed', (event) => finish(event.requestId, event.commandName, 'error'));
}
