/** REST for plans, doses and adherence. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { DoseState } from './models.js';
import type { DoseService, PlanInput } from './service.js';

type Id = { id: string };

export function registerDoseRoutes(router: Router, requireUser: Middleware, service: DoseService): void {
  router.post('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params', body: 'http/plan-input' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.createPlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PlanInput>(ctx.state, 'body'));
  });
  router.get('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await service.getPlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.put('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params', body: 'http/plan-input' }), async (ctx) => {
    ctx.body = await service.replacePlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PlanInput>(ctx.state, 'body'));
  });
  router.get('/patients/:id/doses', requireUser, validate({ params: 'http/id-params', query: 'http/dose-query' }), async (ctx) => {
    ctx.body = await service.listDoses(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ from?: string; to?: string; state?: DoseState; limit?: number }>(ctx.state, 'query'));
  });
  router.post('/patients/:id/doses/:occurrenceId/confirm', requireUser, validate({ params: 'http/dose-params', body: 'http/dose-confirm' }), async (ctx) => {
    const { id, occurrenceId } = valid<Id & { occurrenceId: string }>(ctx.state, 'params');
    ctx.body = await service.confirm(actorOf(ctx), id, occurrenceId, valid<{ takenAt?: string }>(ctx.state, 'body'));
  });
  router.get('/patients/:id/adherence', requireUser, validate({ params: 'http/id-params', query: 'http/adherence-query' }), async (ctx) => {
    ctx.body = await service.adherence(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ from?: string; to?: string }>(ctx.state, 'query'));
  });
}
