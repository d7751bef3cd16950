import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Accepts a well-formed X-Request-Id from the client (for tracing across hops), else mints one. */
export function requestId(): Middleware {
  return async function assignRequestId(ctx, next) {
    const offered = ctx.get('X-Request-Id');
    ctx.state.requestId = CLIENT_REQUEST_ID.test(offered) ? offered : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId as string);
    await next();
  };
}

/**
 * One log line and one histogram sample per request. Logs the matched route
 * pattern (not the raw path, which would carry ids into metric labels) and
 * never the body or query.
 */
export function accessLog(logger: Logger, metrics: Metrics): Middleware {
  return async function logRequest(ctx, next) {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as { routerPath?: string }).routerPath ?? (ctx.status === 404 ? 'unmatched' : ctx.path);
      metrics.httpRequests.observe({ method: ctx.method, route, status: String(ctx.status) }, seconds);
      logger.debug(
        { requestId: ctx.state.requestId, method: ctx.method, route, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 },
        'http request',
      );
    }
  };
}
