/**
 * Bearer-token authentication for REST routes. Puts the principal on
 * `ctx.state.principal`; a missing, forged, expired or revoked token is a 401
 * problem with a WWW-Authenticate challenge (RFC 6750).
 */
import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.js';
import type { Actor } from './actor.js';
import type { AuthService } from './auth-service.js';
import type { UserPrincipal } from './principal.js';

export function requireUser(auth: AuthService): Middleware {
  return async function authenticateUser(ctx, next) {
    const header = ctx.get('Authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{10,4096})$/.exec(header);
    if (!match?.[1]) throw challenge(new AppError('unauthenticated', 'A bearer access token is required'));
    try {
      ctx.state.principal = await auth.authenticate(match[1]);
    } catch (error) {
      throw error instanceof AppError && error.status === 401 ? challenge(error) : error;
    }
    await next();
  };
}

function challenge(error: AppError): AppError {
  const code = error.code === 'unauthenticated' && error.message.startsWith('A bearer') ? '' : ', error="invalid_token"';
  return new AppError(error.code, error.message, { headers: { 'WWW-Authenticate': `Bearer realm="medhub"${code}` } });
}

/** The authenticated actor of a request (after requireUser). */
export function actorOf(ctx: Context): Actor {
  return { principal: ctx.state.principal as UserPrincipal, via: 'http', ip: ctx.ip, requestId: ctx.state.requestId as string };
}
