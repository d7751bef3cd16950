/**
 * The composition root: config → store → adapters → features → transports,
 * and the ordered shutdown that undoes it. `src/main.ts` runs it as a process;
 * tests run it in-process on free ports.
 */
import { createServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { Redis } from 'ioredis';
import type { DestinationStream } from 'pino';
import type { Config } from './config.js';
import type { HubContext } from './features/context.js';
import { registerIdentity } from './features/identity/index.js';
import { registerDevices } from './features/devices/index.js';
import { registerAlerts } from './features/alerts/index.js';
import { registerDoses } from './features/doses/index.js';
import { createDoseFacts } from './features/doses/facts.js';
import { registerConversations, selectLanguageModel } from './features/conversations/index.js';
import { createIntents } from './features/intents/index.js';
import { registerReports } from './features/reports/index.js';
import { registerSummaries } from './features/summaries/index.js';
import { registerVoice } from './features/voice/index.js';
import { createJobScheduler } from './jobs/scheduler.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { systemClock, type Clock } from './ports/clock.js';
import { schemas } from './schemas.js';
import { openStore, type Store } from './store/connection.js';
import { createHttpApp, mountRouters } from './transports/http/app.js';
import { mountIdempotency } from './transports/http/idempotency.js';
import { registerOpsRoutes, type ReadinessCheck } from './transports/http/ops-routes.js';
import { closeServer, listen } from './transports/listen.js';
import { createMqttTransport } from './transports/mqtt/broker.js';
import { createBrokerCluster } from './transports/mqtt/cluster.js';
import { createSocketTransport } from './transports/socket/server.js';

export interface HubOptions {
  config: Config;
  clock?: Clock;
  /** Keep the embedded store in memory (tests). */
  inMemoryStore?: boolean;
  /** Where logs go (tests silence or capture them). */
  logDestination?: DestinationStream;
  /**
   * Start the node-cron schedules (default true). Test hubs pass false: they run job bodies
   * themselves on a test clock, and a real-minute tick would race them.
   */
  startJobs?: boolean;
  /**
   * The hub cannot go on: its embedded store's thread ended unasked. The process entry exits (a
   * supervisor restarts the hub, which replays the store's journal); by default it is only logged.
   */
  onFatal?: (error: Error) => void;
}

export interface Hub {
  readonly context: HubContext;
  /** The services each feature returned (tests and scripts use them as the routes do). */
  readonly features: Features;
  readonly httpPort: number;
  readonly mqttPort: number;
  readonly urls: { http: string; api: string; mqtt: string; mqttWs: string; socket: string };
  close(): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const { config } = options;
  const logger = createLogger(config.logLevel, options.logDestination);
  const metrics = createMetrics();
  const store = await openStore({ mongoUrl: config.mongoUrl, dataDir: config.dataDir, inMemory: options.inMemoryStore, thread: config.embeddedStoreThread, onLost: options.onFatal, logger, metrics });
  let redis: Redis | undefined;
  try {
    redis = config.redisUrl ? await connectRedis(config.redisUrl, config.redisKeyPrefix, logger) : undefined;
    return await assembleHub(options, logger, metrics, store, redis);
  } catch (error) {
    // A hub that did not start holds nothing: its store's thread would keep the process alive, and
    // the data directory locked; its Redis connection would keep the process alive too.
    await runSafely(logger, 'redis', () => quitRedis(redis));
    await runSafely(logger, 'store', () => store.close());
    throw error;
  }
}

async function assembleHub(options: HubOptions, logger: Logger, metrics: Metrics, store: Store, redis: Redis | undefined): Promise<Hub> {
  const { config } = options;
  const closeHooks: Array<() => Promise<void> | void> = [];
  const checks = new Map<string, ReadinessCheck>();
  const http = createHttpApp(config, logger, metrics);
  // Koa composes its middleware when callback() is called, so the server delegates to a
  // handler set once features have mounted their routes (Socket.IO must attach first).
  let handleRequest: RequestListener = (_req, res) => res.writeHead(503).end();
  const httpServer = createServer((req, res) => handleRequest(req, res));
  // Several instances share one broker through Redis (its bus and its persistence).
  const cluster = config.redisUrl ? createBrokerCluster(config.redisUrl, config.redisKeyPrefix, logger) : undefined;
  const mqtt = await createMqttTransport({ config, logger, metrics, cluster }).catch(async (error: unknown) => {
    if (cluster) await new Promise<void>((resolve) => cluster.bus.close(resolve)).then(() => cluster.close());
    throw error;
  });
  const clock = options.clock ?? systemClock;
  const sockets = createSocketTransport({ httpServer, logger, metrics, corsOrigin: config.corsOrigin, clock, redis });
  const jobs = createJobScheduler(logger, redis);

  const context: HubContext = {
    config,
    logger,
    metrics,
    clock,
    store,
    schemas: schemas(),
    redis,
    http: { api: http.api, root: http.root },
    mqtt,
    sockets,
    jobs,
    addReadinessCheck: (name, check) => checks.set(name, check),
    onClose: (hook) => closeHooks.push(hook),
  };

  addCoreReadinessChecks(context, store, redis, checks);
  if (cluster) checks.set('mqtt-cluster', async () => timed(() => cluster.ping()));
  let features: Awaited<ReturnType<typeof registerFeatures>>;
  let httpPort: number;
  try {
    // A feature may fail to start (an index its data breaks); what the others started is stopped.
    features = await registerFeatures(context);
    // After the features: it guards the write routes they registered.
    await mountIdempotency(http.api, { connection: store.connection, clock: context.clock, logger });

    registerOpsRoutes(http.root, metrics, checks, () => ({ mqtt: { port: mqtt.port, wsPath: config.mqtt.wsPath } }));
    mountRouters(http);
    handleRequest = http.app.callback();
    mqtt.attachWebSocket(httpServer);
    rejectUnknownUpgrades(httpServer, config.mqtt.wsPath);

    httpPort = await listen(httpServer, config.port, config.host, 'PORT');
    await mqtt.listen();
  } catch (error) {
    await shutdown();
    throw error;
  }
  if (options.startJobs ?? true) jobs.start();

  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const urls = {
    http: `http://${host}:${httpPort}`,
    api: `http://${host}:${httpPort}/api/v1`,
    mqtt: `mqtt://${host}:${mqtt.port}`,
    mqttWs: `ws://${host}:${httpPort}${config.mqtt.wsPath}`,
    socket: `http://${host}:${httpPort}`,
  };

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    await jobs.stop();
    for (const hook of [...closeHooks].reverse()) await runSafely(logger, 'close hook', hook);
    // Stop accepting; let in-flight HTTP requests finish; drain MQTT handlers; then sockets.
    const httpClosed = closeServer(httpServer);
    httpServer.closeIdleConnections();
    await runSafely(logger, 'mqtt', () => mqtt.close());
    await runSafely(logger, 'sockets', () => sockets.close());
    await Promise.race([httpClosed, delay(config.shutdownTimeoutMs / 2)]);
    httpServer.closeAllConnections();
    await runSafely(logger, 'redis', () => quitRedis(redis));
    await runSafely(logger, 'store', () => store.close());
    logger.info('hub stopped');
    logger.flush?.();
  }

  return {
    context,
    features,
    httpPort,
    mqttPort: mqtt.port,
    urls,
    close: () => (closing ??= shutdown()),
  };
}

/** Features, registered in dependency order; each receives the services of those it builds on. */
async function registerFeatures(context: HubContext) {
  const identity = await registerIdentity(context);
  const devices = await registerDevices(context, { identity });
  const alerts = await registerAlerts(context, { identity, devices });
  const doses = await registerDoses(context, { identity, devices, alerts });
  const languageModel = selectLanguageModel(context.config, context.logger);
  const reports = await registerReports(context, { identity, alerts });
  const intents = createIntents(context, {
    identity,
    facts: createDoseFacts(doses.models),
    actions: { confirmDose: doses.service.confirmNamed, logSymptom: reports.service.logSymptom, requestHelp: reports.service.requestHelp },
  });
  const conversations = await registerConversations(context, { identity, languageModel, intents });
  const voice = await registerVoice(context, { identity, intents, conversations });
  const summaries = await registerSummaries(context, { identity, doses, alerts, reports, languageModel });
  return { identity, devices, alerts, doses, reports, intents, conversations, voice, summaries };
}

export type Features = Awaited<ReturnType<typeof registerFeatures>>;

async function timed(ping: () => Promise<unknown>): Promise<{ ok: true; latencyMs: number }> {
  const started = performance.now();
  await ping();
  return { ok: true, latencyMs: round(performance.now() - started) };
}

function addCoreReadinessChecks(context: HubContext, store: Store, redis: Redis | undefined, checks: Map<string, ReadinessCheck>): void {
  checks.set('store', async () => ({ ok: true, kind: store.kind, latencyMs: round(await store.ping()) }));
  checks.set('mqtt', async () => ({ ok: context.mqtt.listening, port: context.mqtt.port }));
  if (redis) {
    checks.set('redis', async () => timed(() => redis.ping()));
  }
}

async function connectRedis(url: string, keyPrefix: string, logger: Logger): Promise<Redis> {
  // ioredis prefixes every key of every command (the Socket.IO streams adapter's, job locks, throttles), duplicates included.
  // Named, so that an operator tells the hub's connections apart in CLIENT LIST (and which instances, by prefix).
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, keyPrefix, connectionName: `medhub@${keyPrefix}` });
  redis.on('error', (error) => logger.warn({ err: error.message, component: 'redis' }, 'redis error'));
  try {
    await redis.connect();
  } catch (error) {
    // Otherwise it goes on reconnecting in the background of a hub that never started.
    redis.disconnect();
    throw error;
  }
  return redis;
}

/** Once: a hub that fails to listen is shut down, then released by startHub. */
async function quitRedis(redis: Redis | undefined): Promise<void> {
  if (redis !== undefined && redis.status !== 'end') await redis.quit();
}

/** Upgrades are served for MQTT-over-WebSocket and Socket.IO; anything else is refused at once. */
function rejectUnknownUpgrades(server: HttpServer, mqttPath: string): void {
  server.on('upgrade', (request, socket) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === mqttPath || path.startsWith('/socket.io/')) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });
}

async function runSafely(logger: Logger, what: string, fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (error) {
    logger.warn({ err: error, part: what }, 'error during shutdown');
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
const round = (ms: number): number => Math.round(ms * 100) / 100;
