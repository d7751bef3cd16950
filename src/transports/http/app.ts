/**
 * The Koa application: a small core of middleware (request id → access log →
 * problem+json → CORS → JSON body) in front of the operations routes and the
 * versioned API router that features fill.
 */
import Koa from 'koa';
import Router from '@koa/router';
import cors from '@koa/cors';
import { bodyParser } from '@koa/bodyparser';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { problemMiddleware } from './problem.js';
import { accessLog, requestId } from './request-context.js';

export const API_PREFIX = '/api/v1';

export interface HttpApp {
  app: Koa;
  /** Routes under /api/v1, registered by features. */
  api: Router;
  /** Routes at the root (/health, /ready, /metrics). */
  root: Router;
}

export function createHttpApp(config: Config, logger: Logger, metrics: Metrics): HttpApp {
  // X-Forwarded-For only from as many proxies as configured, read from its right end (what they
  // appended): its left end is whatever the client sent, and login throttles and the audit log
  // key on this address.
  const hops = config.http.trustProxyHops;
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  const log = logger.child({ component: 'http' });
  const root = new Router();
  const api = new Router({ prefix: API_PREFIX });

  app.use(requestId());
  app.use(accessLog(log, metrics));
  app.use(problemMiddleware(log));
  app.use(cors({ origin: config.corsOrigin === '*' ? '*' : originList(config.corsOrigin), exposeHeaders: ['X-Request-Id', 'Retry-After', 'Idempotent-Replayed', 'ETag'] }));
  app.use(
    bodyParser({
      enableTypes: ['json'],
      jsonLimit: config.http.bodyLimitBytes,
      // Only objects and arrays: a bare `"x"` or `1` body is not a resource.
      jsonStrict: true,
      onError: (error) => {
        throw bodyError(error);
      },
    }),
  );
  // Koa logs errors itself unless told otherwise; ours are logged by the problem middleware.
  app.silent = true;
  return { app, api, root };
}

/** Mounts routers once features have registered their routes. */
export function mountRouters({ app, api, root }: HttpApp): void {
  for (const router of [root, api]) {
    app.use(router.routes());
    // Not thrown: so the router sets Allow on a 405 (and answers OPTIONS); problemMiddleware writes the problem.
    app.use(router.allowedMethods());
  }
}

/** co-body's errors → the hub's vocabulary (they carry a status but not always a type). */
function bodyError(error: Error & { status?: number; type?: string }): AppError {
  if (error.status === 413 || error.type === 'entity.too.large') return new AppError('payload_too_large', 'The request body is too large');
  if (error.status === 415) return new AppError('unsupported_media_type', 'The request body must be application/json');
  return new AppError('invalid_json', 'The request body is not valid JSON');
}

function originList(setting: string): (ctx: Koa.Context) => string {
  const allowed = new Set(setting.split(',').map((origin) => origin.trim()));
  return (ctx) => (allowed.has(ctx.get('Origin')) ? ctx.get('Origin') : '');
}
