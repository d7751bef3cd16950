/**
 * Sign-in, token refresh with rotation, sign-out, and turning an access token
 * back into a principal. An access token is honoured only while its session
 * is alive: signing out or disabling the user ends it at once, for REST and
 * for sockets (which re-authenticate on connection-state recovery).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { IdentityModels, SessionDoc, UserDoc } from './models.js';
import type { Passwords } from './passwords.js';
import type { UserPrincipal } from './principal.js';
import type { LoginThrottle } from './throttle.js';
import { ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS, hashToken, newRefreshToken, parseRefreshToken, sessionIdOf, type TokenSigner } from './tokens.js';
import { toUserView } from './views.js';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
}

export interface AuthService {
  login(email: string, password: string, ip: string): Promise<TokenPair & { user: ReturnType<typeof toUserView> }>;
  refresh(refreshToken: string, ip: string): Promise<TokenPair>;
  logout(refreshToken: string): Promise<void>;
  /** Ends every session of a user (disabled account, password or role change); their open sockets are disconnected. */
  revokeAll(userId: string): Promise<void>;
  authenticate(accessToken: string): Promise<UserPrincipal>;
  /** Whether the login session has not ended (signed out, revoked, expired). */
  isSessionLive(sessionId: string): Promise<boolean>;
}

const invalidLogin = (): AppError => new AppError('invalid_credentials', 'The email or password is not correct');
const invalidRefresh = (): AppError => new AppError('unauthenticated', 'The refresh token is not valid');

export interface LoginTiming {
  /**
   * A failed login is answered no sooner than this after it began (ms). Unknown emails are
   * verified against a decoy at the configured cost, but an account hashed at another cost (made
   * before PASSWORD_HASH_* changed, until its next successful login) takes as long as that cost:
   * the floor hides the difference, as long as it exceeds the costliest hash in use.
   */
  failureMinMs: number;
}

/** Sessions that just ended: one, or every session of a user. Whoever holds live connections for them closes those. */
export type SessionsEnded = (ended: { sessionId: string } | { userId: string }) => void;

export function createAuthService(
  models: IdentityModels,
  signer: TokenSigner,
  passwords: Passwords,
  throttle: LoginThrottle,
  clock: Clock,
  timing: LoginTiming,
  sessionsEnded: SessionsEnded = () => undefined,
): AuthService {
  const { User, Session } = models;

  async function isSessionLive(sessionId: string): Promise<boolean> {
    return (await Session.exists({ _id: sessionId, revokedAt: null })) !== null;
  }

  function principalOf(user: UserDoc, session: Pick<SessionDoc, '_id'>): UserPrincipal {
    return {
      kind: 'user',
      userId: String(user._id),
      organisationId: String(user.organisationId),
      role: user.role,
      patientId: user.patientId ? String(user.patientId) : null,
      sessionId: String(session._id),
    };
  }

  async function issue(user: UserDoc, session: Pick<SessionDoc, '_id'>, refreshToken: string): Promise<TokenPair> {
    const accessToken = await signer.signAccess(principalOf(user, session), clock.now());
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: ACCESS_TOKEN_TTL_SECONDS };
  }

  /**
   * A hash made at another cost than the configured one is made again on a successful login (the
   * only moment the password is known): until then, that account's failed logins take as long as
   * its own cost, not the decoy's — the failure floor (`timing.failureMinMs`) hides that.
   * Answers the hash the user has now, as far as this login knows.
   */
  async function upgradeHash(user: UserDoc, password: string): Promise<string> {
    if (!passwords.needsRehash(user.passwordHash)) return user.passwordHash;
    const upgraded = await passwords.hash(password);
    const result = await User.updateOne({ _id: user._id, passwordHash: user.passwordHash }, { $set: { passwordHash: upgraded } });
    return result.modifiedCount > 0 ? upgraded : user.passwordHash;
  }

  /**
   * Whether the user, read again once the login's session exists, would still be signed in as
   * they were read before the password was checked. A change in between (new password, disabled,
   * new role) revoked the user's sessions, perhaps before this one existed: the login must not
   * outlive it. Another hash that still verifies (the same password hashed again, by another
   * login upgrading its cost at the same moment) is not a change.
   */
  async function unchangedSince(read: UserDoc, passwordHash: string, password: string): Promise<boolean> {
    const now = await User.findById(read._id).lean<UserDoc>();
    if (!now || now.disabled) return false;
    const principal = (user: UserDoc) => [String(user.organisationId), user.role, String(user.patientId ?? '')].join('/');
    if (principal(now) !== principal(read)) return false;
    return now.passwordHash === passwordHash || (await passwords.verify(now.passwordHash, password));
  }

  return {
    async login(email, password, ip) {
      const account = email.trim().toLowerCase();
      // The attempt is counted before the password is checked, so parallel attempts cannot all pass.
      await throttle.check(account, ip);
      const started = performance.now();
      const failed = async (): Promise<never> => {
        try {
          await throttle.recordFailure(account, ip);
        } finally {
          // Also when recording fails (Redis refusing writes): that answer must not come sooner.
          await delay(Math.max(0, started + timing.failureMinMs - performance.now()));
        }
        throw invalidLogin();
      };
      const user = await User.findOne({ email: account }).lean<UserDoc>();
      const ok = user && !user.disabled ? await passwords.verify(user.passwordHash, password) : (await passwords.burnVerification(password), false);
      if (!user || !ok) return failed();
      const passwordHash = await upgradeHash(user, password);
      const sessionId = new Types.ObjectId();
      const refresh = newRefreshToken(String(sessionId));
      await Session.create({
        _id: sessionId,
        userId: user._id,
        tokenHash: refresh.hash,
        familyHash: refresh.familyHash,
        expiresAt: new Date(clock.now().getTime() + REFRESH_TOKEN_TTL_SECONDS * 1000),
        ip,
      });
      // A change of the user since it was read above ended their sessions, maybe before this one existed.
      if (!(await unchangedSince(user, passwordHash, password))) {
        await Session.updateOne({ _id: sessionId }, { $set: { revokedAt: clock.now() } });
        return failed();
      }
      await throttle.recordSuccess(account, ip);
      return { ...(await issue(user, { _id: sessionId }, refresh.token)), user: toUserView(user) };
    },

    async refresh(refreshToken, _ip) {
      const parsed = parseRefreshToken(refreshToken);
      if (!parsed) throw invalidRefresh();
      const { sessionId, family } = parsed;
      const presented = hashToken(refreshToken);
      // The next token stays in the presented token's family; a token from before families starts
      // one, and is kept as the session's previousHash.
      const next = newRefreshToken(sessionId, family);
      const rotation = family ? { tokenHash: next.hash } : { tokenHash: next.hash, familyHash: next.familyHash, previousHash: presented };
      const now = clock.now();
      // Rotate atomically: only the current token of a live session may be exchanged, once.
      const session = await Session.findOneAndUpdate(
        { _id: sessionId, tokenHash: presented, revokedAt: null, expiresAt: { $gt: now } },
        { $set: rotation },
        { returnDocument: 'after' },
      ).lean<SessionDoc>();
      if (!session) {
        // A replaced token presented again — any of the family, however many rotations old (the
        // second of two concurrent refreshes with one token too): someone holds a copy. End the
        // session for everyone. A token without a family is matched as the session's previousHash.
        const replaced = family ? { familyHash: hashToken(family) } : { previousHash: presented };
        const replayed = await Session.updateOne({ _id: sessionId, ...replaced, revokedAt: null }, { $set: { revokedAt: now } });
        if (replayed.modifiedCount > 0) sessionsEnded({ sessionId: String(sessionId) });
        throw invalidRefresh();
      }
      const user = await User.findById(session.userId).lean<UserDoc>();
      if (!user || user.disabled) throw invalidRefresh();
      return issue(user, session, next.token);
    },

    async logout(refreshToken) {
      const sessionId = sessionIdOf(refreshToken);
      if (!sessionId) throw invalidRefresh();
      const result = await Session.updateOne({ _id: sessionId, tokenHash: hashToken(refreshToken), revokedAt: null }, { $set: { revokedAt: clock.now() } });
      if (result.matchedCount === 0) throw invalidRefresh();
      sessionsEnded({ sessionId: String(sessionId) });
    },

    async revokeAll(userId) {
      await Session.updateMany({ userId: new Types.ObjectId(userId), revokedAt: null }, { $set: { revokedAt: clock.now() } });
      sessionsEnded({ userId });
    },

    async authenticate(accessToken) {
      const principal = await signer.verifyAccess(accessToken, clock.now());
      if (!(await isSessionLive(principal.sessionId))) throw new AppError('unauthenticated', 'The session has ended; sign in again');
      return principal;
    },

    isSessionLive,
  };
}
