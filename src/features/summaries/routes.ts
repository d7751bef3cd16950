/** REST for summaries. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { PageRequest } from '../../store/pagination.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { Period } from './models.js';
import type { SummaryService } from './service.js';

type Id = { id: string };

export function registerSummaryRoutes(router: Router, requireUser: Middleware, service: SummaryService): void {
  router.get('/patients/:id/summaries', requireUser, validate({ params: 'http/id-params', query: 'http/summary-query' }), async (ctx) => {
    ctx.body = await service.list(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest & { period?: Period }>(ctx.state, 'query'));
  });
  router.post('/patients/:id/summaries', requireUser, validate({ params: 'http/id-params', body: 'http/summary-create' }), async (ctx) => {
    const { summary, created } = await service.request(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ period: Period; date?: string }>(ctx.state, 'body'));
    ctx.status = created ? 201 : 200;
    ctx.body = summary;
  });
}
