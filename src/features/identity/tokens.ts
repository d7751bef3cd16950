/**
 * Access tokens are short-lived JWTs (HS256, jose). Refresh tokens are opaque
 * random strings `<sessionId>.<family>.<secret>` whose SHA-256 is stored; each
 * use rotates them (a new secret, the same family), and presenting a replaced
 * token — any the session ever had — revokes the whole session. Tokens issued
 * before families were `<sessionId>.<secret>`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AppError } from '../../errors.js';
import { ROLES, type Role } from './models.js';
import type { UserPrincipal } from './principal.js';

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60;
const ISSUER = 'medhub';
const AUDIENCE = 'medhub-api';

export interface TokenSigner {
  signAccess(principal: UserPrincipal, now: Date): Promise<string>;
  verifyAccess(token: string, now: Date): Promise<UserPrincipal>;
}

export function createTokenSigner(secret: string): TokenSigner {
  const key = new TextEncoder().encode(secret);
  return {
    async signAccess(principal, now) {
      const issuedAt = Math.floor(now.getTime() / 1000);
      return new SignJWT({ org: principal.organisationId, role: principal.role, pid: principal.patientId, sid: principal.sessionId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(principal.userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ACCESS_TOKEN_TTL_SECONDS)
        .sign(key);
    },
    async verifyAccess(token, now) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: ISSUER,
          audience: AUDIENCE,
          algorithms: ['HS256'],
          currentDate: now,
        });
        const { sub, org, role, pid, sid, exp } = payload as Record<string, unknown>;
        if (typeof sub !== 'string' || typeof org !== 'string' || typeof sid !== 'string' || !ROLES.includes(role as Role)) {
          throw new AppError('unauthenticated', 'The token is not valid');
        }
        const principal: UserPrincipal = { kind: 'user', userId: sub, organisationId: org, role: role as Role, patientId: typeof pid === 'string' ? pid : null, sessionId: sid };
        // Signed with an expiry (signAccess), which jwtVerify has checked is in the future.
        if (typeof exp === 'number') principal.expiresAt = new Date(exp * 1000);
        return principal;
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (error instanceof joseErrors.JWTExpired) throw new AppError('token_expired', 'The access token has expired');
        throw new AppError('unauthenticated', 'The token is not valid');
      }
    },
  };
}

export interface RefreshToken {
  token: string;
  hash: string;
  /**
   * Hash of the family secret, which every token of a session carries (its first token's, kept at
   * each rotation): a token presented with it that is not the session's current one is a copy of
   * a replaced token — only a holder of one of the session's tokens knows the family secret.
   */
  familyHash: string;
}

const randomSecret = (): string => randomBytes(32).toString('base64url');

/** A refresh token of the session: in the family given (a rotation), or in a new one (a login). */
export function newRefreshToken(sessionId: string, family: string = randomSecret()): RefreshToken {
  const token = `${sessionId}.${family}.${randomSecret()}`;
  return { token, hash: hashToken(token), familyHash: hashToken(family) };
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url');

/**
 * The session id and family secret a refresh token names, or undefined when it is malformed. A
 * token issued before families (`<sessionId>.<secret>`) has no family.
 */
export function parseRefreshToken(token: string): { sessionId: string; family?: string } | undefined {
  const parts = token.split('.');
  const [sessionId, first, second] = parts;
  if (!sessionId || !/^[a-f0-9]{24}$/.test(sessionId) || !first || parts.length > 3) return undefined;
  if (parts.length === 2) return { sessionId };
  return second ? { sessionId, family: first } : undefined;
}

/** The session id a refresh token names, or undefined when it is malformed. */
export function sessionIdOf(token: string): string | undefined {
  return parseRefreshToken(token)?.sessionId;
}
