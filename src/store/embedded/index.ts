/**
 * medhub's embedded MongoDB-compatible store. Speaks the MongoDB wire protocol so mongoose
 * and the official driver use it unchanged; production uses a real MongoDB (MONGO_URL).
 *
 *   const store = await startEmbeddedStore({ dataDir: './data/store', port: 0 });
 *   await mongoose.connect(store.uri);
 *   …
 *   await store.close();
 */
import type { AddressInfo } from 'node:net';
import { Engine, guardObserver, type CommandObserver } from './engine/engine.js';
import { TtlMonitor } from './engine/ttl.js';
import { silentLogger } from './logger.js';
import type { StoreLogger } from './logger.js';
import { Persistence } from './persistence/persistence.js';
import { createWireServer } from './wire/server.js';

export type { StoreLogger } from './logger.js';
export type { CommandObserver } from './engine/engine.js';

export interface EmbeddedStoreOptions {
  /** Where the journal, snapshot and lock file live. Required unless `inMemory`. */
  dataDir?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Keep everything in memory: nothing is written to disk (tests). */
  inMemory?: boolean;
  /** Replica-set name advertised in hello and put in the uri; default "medhub". */
  replSetName?: string;
  /** How often TTL indexes are swept; default 60 000 ms like mongod. */
  ttlSweepIntervalMs?: number;
  /** Idle cursors are closed after this long; default 10 minutes like mongod. */
  cursorTimeoutMs?: number;
  /** Compact the journal into a snapshot once it exceeds this size; default 64 MiB. */
  compactAfterBytes?: number;
  logger?: StoreLogger;
  /**
   * Told of every command answered except the handshake (`hello`): for metrics. Timing commands
   * here spares a client in the same process the driver's command monitoring, which decodes
   * every reply a second time for its events.
   */
  onCommand?: CommandObserver;
}

export interface EmbeddedStore {
  /** `mongodb://127.0.0.1:PORT/?replicaSet=NAME` */
  uri: string;
  port: number;
  /** Stops accepting connections, flushes the journal into a snapshot and releases the lock. */
  close(): Promise<void>;
}

const LOGICAL_SESSION_TIMEOUT_MINUTES = 30;

function advertisedHostName(host: string): string {
  // Wildcard and loopback listeners are advertised as 127.0.0.1, which the uri uses too.
  return host === '0.0.0.0' || host === '::' || host === 'localhost' || host === '::1' ? '127.0.0.1' : host;
}

export async function startEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  const host = options.host ?? '127.0.0.1';
  const replSetName = options.replSetName ?? 'medhub';
  const logger = options.logger ?? silentLogger;
  const inMemory = options.inMemory === true;
  if (!inMemory && (options.dataDir === undefined || options.dataDir === '')) {
    throw new Error('startEmbeddedStore: dataDir is required unless inMemory is true');
  }
  const engine = new Engine({
    replSetName,
    advertisedHost: '',
    cursorTimeoutMs: options.cursorTimeoutMs ?? 10 * 60_000,
    logicalSessionTimeoutMinutes: LOGICAL_SESSION_TIMEOUT_MINUTES,
    persistent: !inMemory,
    logger,
    ...(options.onCommand ? { onCommand: guardObserver(options.onCommand, logger) } : {}),
  });
  if (!inMemory) {
    const persistence = await Persistence.open(
      { dataDir: options.dataDir as string, logger, compactAfterBytes: options.compactAfterBytes ?? 64 * 1024 * 1024 },
      (op) => engine.replay(op),
      (ops) => engine.dependsOnLostWrite(ops),
    );
    engine.attachPersistence(persistence);
  }

  const { server, sockets } = createWireServer(engine);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await engine.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  engine.settings.advertisedHost = `${advertisedHostName(host)}:${port}`;
  const ttl = new TtlMonitor(engine, options.ttlSweepIntervalMs ?? 60_000);
  const uri = `mongodb://${engine.settings.advertisedHost}/?replicaSet=${encodeURIComponent(replSetName)}`;
  logger.info({ uri, inMemory, dataDir: options.dataDir }, 'embedded store listening');

  let closing: Promise<void> | undefined;
  return {
    uri,
    port,
    close() {
      closing ??= (async () => {
        await ttl.stop();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        await engine.close();
        logger.info({ uri }, 'embedded store closed');
      })();
      return closing;
    },
  };
}
