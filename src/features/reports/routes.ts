/** REST for reports. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { PageRequest } from '../../store/pagination.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { ReportKind } from './models.js';
import type { HelpInput, ReportService, SymptomInput } from './service.js';

type Id = { id: string };

export function registerReportRoutes(router: Router, requireUser: Middleware, service: ReportService): void {
  router.get('/patients/:id/reports', requireUser, validate({ params: 'http/id-params', query: 'http/report-query' }), async (ctx) => {
    ctx.body = await service.list(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest & { kind?: ReportKind }>(ctx.state, 'query'));
  });
  router.post('/patients/:id/symptoms', requireUser, validate({ params: 'http/id-params', body: 'http/symptom-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.logSymptom(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<SymptomInput>(ctx.state, 'body'), { source: 'app' });
  });
  router.post('/patients/:id/help-requests', requireUser, validate({ params: 'http/id-params', body: 'http/help-request-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.requestHelp(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<HelpInput>(ctx.state, 'body'), { source: 'app' });
  });
}
