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
    const token = bearerTokenOf(ctx.get('Authorization'));
    try {
      ctx.state.principal = await auth.authenticate(token);
    } catch (error) {
      throw error instanceof AppError && error.status === 401 ? challenge(error) : error;
    }
    await next();
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive (RFC 7235
 * §2.1); a header without one asks for a token, one with a token that cannot be one says so.
 */
function bearerTokenOf(header: string): string {
  const [, scheme, credentials] = /^(\S+) +(.*)$/.exec(header.trim()) ?? [];
  if (scheme?.toLowerCase() !== 'bearer' || !credentials) throw challenge(new AppError('unauthenticated', 'A bearer access token is required'));
  if (!/^[A-Za-z0-9._~+/=-]{10,4096}$/.test(credentials)) throw challenge(new AppError('unauthenticated', 'The token is not valid'));
  return credentials;
}

function challenge(error: AppError): AppError {
  const code = error.code === 'unauthenticated' && error.message.startsWith('A bearer') ? '' : ', error="invalid_token"';
  return new AppError(error.code, error.message, { headers: { 'WWW-Authenticate': `Bearer realm="medhub"${code}` } });
}

/** The authenticated actor of a request (after requireUser). */
export function actorOf(ctx: Context): Actor {
  return { principal: ctx.state.principal as UserPrincipal, via: 'http', ip: ctx.ip, requestId: ctx.state.requestId as string };
}
