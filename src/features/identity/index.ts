/**
 * Identity and access: who is asking (tokens, sessions), what they may see
 * (the policy), and the record of what they did (the audit log). Other
 * features receive the returned object from the composition root.
 */
import type { HubContext } from '../context.js';
import { createAuditLog } from '../audit/audit-log.js';
import { rooms } from '../../transports/socket/rooms.js';
import { createAuthService, type SessionsEnded } from './auth-service.js';
import { ensureFirstAdmin } from './bootstrap.js';
import { createPasswords } from './passwords.js';
import { createDirectoryService } from './directory-service.js';
import { requireUser } from './http-auth.js';
import { resolveJwtSecret } from './jwt-secret.js';
import { identityModels } from './models.js';
import { createPolicy } from './policy.js';
import { registerAuditRoutes } from './routes/audit.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerDirectoryRoutes } from './routes/directory.js';
import { registerIdentitySockets } from './socket.js';
import { createLoginThrottle } from './throttle.js';
import { createTokenSigner } from './tokens.js';

export async function registerIdentity(ctx: HubContext) {
  const models = identityModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const audit = createAuditLog(ctx.store.connection, ctx.clock, ctx.logger);
  const signer = createTokenSigner(resolveJwtSecret(ctx.config.jwtSecret, ctx.config.dataDir));
  const passwords = createPasswords(ctx.config.passwords);
  // An ended session's sockets are disconnected at once, on every instance: a socket is authenticated only when it connects.
  const sessionsEnded: SessionsEnded = (ended) => ctx.sockets.disconnect('sessionId' in ended ? rooms.session(ended.sessionId) : rooms.user(ended.userId));
  const auth = createAuthService(models, signer, passwords, createLoginThrottle(ctx.redis), ctx.clock, { failureMinMs: ctx.config.loginFailureMinMs }, sessionsEnded);
  const policy = createPolicy(models);
  const directory = createDirectoryService(models, policy, audit, auth, passwords, ctx.sockets, ctx.clock);
  const authenticated = requireUser(auth);

  registerAuthRoutes(ctx.http.api, auth, directory);
  registerDirectoryRoutes(ctx.http.api, authenticated, directory);
  registerAuditRoutes(ctx.http.api, authenticated, policy, audit);
  registerIdentitySockets(ctx.sockets, auth, policy, audit);
  await ensureFirstAdmin(models, ctx.config.admin, passwords, ctx.logger);

  return { models, auth, policy, directory, audit, passwords, requireUser: authenticated };
}

export type Identity = Awaited<ReturnType<typeof registerIdentity>>;
