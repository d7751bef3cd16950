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
import type { Persistence } from './retained-index.js';

/** What the hub uses of an mqemitter (Aedes takes the whole emitter as its `mq`). */
export interface ClusterBus {
  on(topic: string, listener: (message: { topic: string } & Record<string, unknown>, done: () => void) => void, callback?: () => void): unknown;
  emit(message: { topic: string } & Record<string, unknown>, callback?: (error?: Error) => void): void;
  close(callback: () => void): void;
}

export interface BrokerCluster {
  bus: ClusterBus;
  persistence: Persistence;
  /** Closes the persistence's Redis connection (the bus is closed by Aedes when it closes). */
  close(): Promise<void>;
}

// CommonJS packages; the bus's prefixed variant has no typings.
const require = createRequire(import.meta.url);
const { MQEmitterRedisPrefix } = require('mqemitter-redis') as { MQEmitterRedisPrefix: new (prefix: string, options: { connectionString: string }) => ClusterBus };
const redisPersistence = require('aedes-persistence-redis') as (options: { conn: Redis }) => Persistence;

export function createBrokerCluster(redisUrl: string, keyPrefix: string): BrokerCluster {
  const prefix = `${keyPrefix}mqtt:`;
  const connection = new Redis(redisUrl, { keyPrefix: prefix });
  return {
    bus: new MQEmitterRedisPrefix(prefix, { connectionString: redisUrl }),
    persistence: redisPersistence({ conn: connection }),
    async close() {
      connection.disconnect();
    },
  };
}
