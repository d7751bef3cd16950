import type Router from '@koa/router';
import { validate, valid } from '../../../transports/http/validate.js';
import type { AuthService } from '../auth-service.js';
import { actorOf, requireUser } from '../http-auth.js';
import type { DirectoryService } from '../directory-service.js';

export function registerAuthRoutes(router: Router, auth: AuthService, directory: DirectoryService): void {
  router.post('/auth/login', validate({ body: 'http/auth-login' }), async (ctx) => {
    const { email, password } = valid<{ email: string; password: string }>(ctx.state, 'body');
    ctx.body = await auth.login(email, password, ctx.ip);
    ctx.set('Cache-Control', 'no-store');
  });

  router.post('/auth/refresh', validate({ body: 'http/auth-refresh' }), async (ctx) => {
    ctx.body = await auth.refresh(valid<{ refreshToken: string }>(ctx.state, 'body').refreshToken, ctx.ip);
    ctx.set('Cache-Control', 'no-store');
  });

  router.post('/auth/logout', validate({ body: 'http/auth-refresh' }), async (ctx) => {
    await auth.logout(valid<{ refreshToken: string }>(ctx.state, 'body').refreshToken);
    ctx.status = 204;
  });

  router.get('/auth/me', requireUser(auth), async (ctx) => {
    const actor = actorOf(ctx);
    ctx.body = await directory.getUser(actor, actor.principal.userId);
  });
}
