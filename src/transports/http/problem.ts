/**
 * RFC 7807 problem details. Every error leaving the HTTP transport goes through
 * here: AppErrors keep their code and (for 4xx) message; Koa/http-errors
 * thrown by middleware (body too large, bad JSON) are mapped by status; every
 * other error is a 500 that says nothing about internals.
 */
import type { Context, Middleware } from 'koa';
import { AppError, ERROR_CODES, toPublicError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';

export const PROBLEM_TYPE_BASE = 'https://medhub.dev/problems/';

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = Object.fromEntries(
  Object.entries(ERROR_CODES).map(([code, { status }]) => [status, code as ErrorCode]).reverse(),
);

/** Errors from http-errors (what ctx.throw and Koa's middleware raise) carry status + expose. */
function fromHttpError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const candidate = error as { status?: unknown; expose?: unknown; message?: unknown; type?: unknown } | null;
  if (!candidate || typeof candidate.status !== 'number' || candidate.status >= 500) return undefined;
  if (candidate.type === 'entity.parse.failed') return new AppError('invalid_json', 'The request body is not valid JSON');
  if (candidate.type === 'entity.too.large') return new AppError('payload_too_large', 'The request body is too large');
  const code = CODE_BY_STATUS[candidate.status] ?? 'validation_failed';
  const message = candidate.expose === true && typeof candidate.message === 'string' ? candidate.message : undefined;
  return new AppError(code, message);
}

export function problemMiddleware(logger: Logger): Middleware {
  return async function problemDetails(ctx, next) {
    try {
      await next();
      if (ctx.body === undefined) {
        // The router answers 501 for any method it does not know, even on a path no route has: that is not found.
        const noRoute = ctx.status === 404 || (ctx.status === 501 && !(ctx as { matched?: unknown[] }).matched?.length);
        if (noRoute) {
          ctx.remove('Allow');
          throw new AppError('not_found', `No route for ${ctx.method} ${ctx.path}`);
        }
        // The router's answers for a path that exists: its Allow header stays.
        if (ctx.status === 405) throw new AppError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}`);
        if (ctx.status === 501) throw new AppError('not_implemented', `The method ${ctx.method} is not supported`);
      }
    } catch (error) {
      const known = fromHttpError(error);
      if (!known) logger.error({ err: error, requestId: ctx.state.requestId }, 'unhandled error in HTTP request');
      writeProblem(ctx, known ?? error);
    }
  };
}

export function writeProblem(ctx: Context, error: unknown): void {
  const problem = toPublicError(error);
  ctx.status = problem.status;
  if (error instanceof AppError && error.headers) ctx.set(error.headers);
  ctx.type = 'application/problem+json';
  ctx.body = {
    type: `${PROBLEM_TYPE_BASE}${problem.code}`,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    instance: ctx.path,
    code: problem.code,
    requestId: ctx.state.requestId as string | undefined,
    ...(problem.details ? { errors: problem.details } : {}),
  };
}
