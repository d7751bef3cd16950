/** REST for reports. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { PageRequest } from '../../store/pagination.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { ReportKind } from './models.js';
import type { HelpInput, ReportOrigin, ReportService, SymptomInput } from './service.js';

type Id = { id: string };

/**
 * From the app; its Idempotency-Key, when sent, also keys the report: a retry after a 503 (stored,
 * but its alert not raised) finds the request it stored instead of storing a second one.
 */
function fromApp(ctx: Context, kind: ReportKind): ReportOrigin {
  const key = ctx.get('Idempotency-Key');
  return key ? { source: 'app', key: `app:${actorOf(ctx).principal.userId}:${ctx.params['id'] ?? ''}:${kind}:${key}` } : { source: 'app' };
}

export function registerReportRoutes(router: Router, requireUser: Middleware, service: ReportService): void {
  router.get('/patients/:id/reports', requireUser, validate({ params: 'http/id-params', query: 'http/report-query' }), async (ctx) => {
    ctx.body = await service.list(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest & { kind?: ReportKind }>(ctx.state, 'query'));
  });
  router.post('/patients/:id/symptoms', requireUser, validate({ params: 'http/id-params', body: 'http/symptom-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.logSymptom(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<SymptomInput>(ctx.state, 'body'), fromApp(ctx, 'symptom'));
  });
  router.post('/patients/:id/help-requests', requireUser, validate({ params: 'http/id-params', body: 'http/help-request-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.requestHelp(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<HelpInput>(ctx.state, 'body'), fromApp(ctx, 'help'));
  });
}
