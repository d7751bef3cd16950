/**
 * Several hub instances, one broker: with REDIS_URL set, the embedded Aedes brokers of every
 * instance are clustered the way Aedes clusters — one message bus (mqemitter-redis) and one
 * persistence (aedes-persistence-redis) in Redis. So a message the hub publishes on one instance
 * (a schedule, a command) reaches the device wherever it is connected, a device's persistent
 * session and its queued QoS 1 messages follow it to whichever instance it reconnects to, the
 * retained messages are the same everywhere, and a device that connects to one instance ends its
 * older session on another (Aedes announces every new client on the bus).
 *
 * Channels and keys carry the deployment's REDIS_KEY_PREFIX (plus `mqtt:`), so deployments (and
 * test runs) sharing a Redis never see each other's.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { Persistence } from './retained-index.js';
import { settledWithin } from '../../settled-within.js';
import { createSessionOwners, type SessionOwners } from './session-owners.js';

type BusMessage = { topic: string } & Record<string, unknown>;

/** What the hub uses of an mqemitter (Aedes takes the whole emitter as its `mq`). */
export interface ClusterBus {
  on(topic: string, listener: (message: BusMessage, done: () => void) => void, callback?: () => void): unknown;
  emit(message: BusMessage, callback?: (error?: Error) => void): void;
  close(callback: () => void): void;
  /** mqemitter-redis reports its connections' errors here. */
  readonly state: { on(event: 'error', listener: (error: Error) => void): unknown };
}

export interface BrokerCluster {
  bus: ClusterBus;
  persistence: Persistence;
  /** Which instance holds each device's session (session-owners.ts). */
  owners: SessionOwners;
  /** Called each time the bus's subscriber connection is back after it was lost (not at the first connection). */
  onBusReconnected(listener: () => void): void;
  /** Pings Redis over the bus's two connections and the persistence's; rejects when one does not answer. */
  ping(): Promise<void>;
  /** Closes the persistence's connection once Aedes has closed (and closed the bus). */
  close(): Promise<void>;
}

/**
 * QoS 1 messages queued in Redis for a device that stays away are dropped after a day: what
 * matters then is sent again when it comes back (its pending commands, which expire within a
 * day, and its retained schedule), and a fleet that never returns does not fill Redis.
 */
const QUEUED_MESSAGE_TTL_SECONDS = 24 * 60 * 60;
/** How long closing waits for the last writes (e.g. Redis unreachable) before dropping them. */
const QUIT_TIMEOUT_MS = 2000;

type RedisBus = ClusterBus & { subConn: Redis; pubConn: Redis };

// CommonJS packages; the bus's prefixed variant has no typings.
const require = createRequire(import.meta.url);
const { MQEmitterRedisPrefix } = require('mqemitter-redis') as { MQEmitterRedisPrefix: new (prefix: string, options: { subConn: Redis; pubConn: Redis }) => RedisBus };
const redisPersistence = require('aedes-persistence-redis') as (options: { conn: Redis; packetTTL: () => number }) => Persistence;

/**
 * mqemitter-redis closes by QUIT on both its connections and waits for them to end: with Redis
 * unreachable that never happens, and the hub (Aedes closes the bus) would never stop. Past the
 * timeout they are dropped and the bus counts as closed.
 */
function boundClose(bus: RedisBus): void {
  const close = bus.close.bind(bus);
  bus.close = (callback) => {
    let closed = false;
    const finish = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      callback();
    };
    // A connection that is reconnecting never ends, even when told to disconnect (which does stop its attempts).
    const timer = setTimeout(() => {
      bus.subConn.disconnect();
      bus.pubConn.disconnect();
      finish();
    }, QUIT_TIMEOUT_MS);
    close(finish);
  };
}

export function createBrokerCluster(redisUrl: string, keyPrefix: string, logger: Logger): BrokerCluster {
  const log = logger.child({ component: 'mqtt-cluster' });
  const prefix = `${keyPrefix}mqtt:`;
  // ioredis reconnects by itself; its errors (one per attempt while Redis is away) are logged, never thrown.
  const connection = new Redis(redisUrl, { keyPrefix: prefix });
  connection.on('error', (error: Error) => log.warn({ err: error.message }, 'broker persistence: redis error'));
  const subConn = new Redis(redisUrl);
  const bus = new MQEmitterRedisPrefix(prefix, { subConn, pubConn: new Redis(redisUrl) });
  bus.state.on('error', (error) => log.warn({ err: error.message }, 'broker bus: redis error'));
  // Messages published while the bus is away are lost (pub/sub keeps nothing): worth a line in the log.
  subConn.on('reconnecting', () => log.warn('broker bus: connection lost, reconnecting; messages meanwhile are missed'));
  boundClose(bus);
  const reconnectListeners: Array<() => void> = [];
  let connectedOnce = false;
  subConn.on('ready', () => {
    if (connectedOnce) for (const listener of reconnectListeners) listener();
    connectedOnce = true;
  });
  return {
    bus,
    persistence: redisPersistence({ conn: connection, packetTTL: () => QUEUED_MESSAGE_TTL_SECONDS }),
    owners: createSessionOwners(connection, log),
    onBusReconnected(listener) {
      reconnectListeners.push(listener);
    },
    async ping() {
      await Promise.all([bus.subConn, bus.pubConn, connection].map((redis) => redis.ping()));
    },
    async close() {
      await settledWithin(connection.quit(), QUIT_TIMEOUT_MS);
      connection.disconnect();
    },
  };
}
