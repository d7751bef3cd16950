/**
 * What every feature receives from the composition root. Features are cut by
 * domain (devices, doses, alerts…) and own their models, services, routes and
 * handlers; they reach the outside world only through this context, and each
 * other only through the services the composition root hands them explicitly.
 */
import type Router from '@koa/router';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { JobScheduler } from '../jobs/scheduler.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Clock } from '../ports/clock.js';
import type { SchemaRegistry } from '../schemas.js';
import type { Store } from '../store/connection.js';
import type { ReadinessCheck } from '../transports/http/ops-routes.js';
import type { MqttTransport } from '../transports/mqtt/broker.js';
import type { SocketTransport } from '../transports/socket/server.js';

export interface HubContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly store: Store;
  readonly schemas: SchemaRegistry;
  readonly redis: Redis | undefined;
  readonly http: { readonly api: Router; readonly root: Router };
  readonly mqtt: MqttTransport;
  readonly sockets: SocketTransport;
  readonly jobs: JobScheduler;
  /** Adds a named check to /ready. */
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /** Runs at shutdown, in reverse order of registration, before transports and the store close. */
  onClose(hook: () => Promise<void> | void): void;
}
