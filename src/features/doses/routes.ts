/** REST for plans, doses and adherence. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { AppError } from '../../errors.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { DoseState } from './models.js';
import type { DoseService, PlanInput } from './service.js';

type Id = { id: string };

export function registerDoseRoutes(router: Router, requireUser: Middleware, service: DoseService): void {
  router.post('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params', body: 'http/plan-input' }), async (ctx) => {
    ctx.status = 201;
    answerPlan(ctx, await service.createPlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PlanInput>(ctx.state, 'body')));
  });
  router.get('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    answerPlan(ctx, await service.getPlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id));
  });
  router.put('/patients/:id/medication-plans', requireUser, validate({ params: 'http/id-params', body: 'http/plan-input' }), async (ctx) => {
    const ifMatch = parseIfMatch(ctx.get('If-Match'));
    answerPlan(ctx, await service.replacePlan(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PlanInput>(ctx.state, 'body'), ifMatch));
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

/** A plan answered with its ETag: its revision, quoted (what a PUT's If-Match names). */
function answerPlan(ctx: Context, plan: { revision: number }): void {
  ctx.set('ETag', `"${plan.revision}"`);
  ctx.body = plan;
}

/**
 * If-Match (RFC 9110 13.1.1): '*', or the entity tags listed; undefined when absent. A weak tag
 * (W/"3") is kept as sent and so never matches: If-Match compares strongly.
 */
function parseIfMatch(header: string): '*' | string[] | undefined {
  const value = header.trim();
  if (!value) return undefined;
  if (value === '*') return '*';
  const tags = value.split(',').map((tag) => tag.trim());
  if (!tags.every((tag) => /^(W\/)?"[\x21\x23-\x7e]*"$/.test(tag))) {
    throw new AppError('validation_failed', 'If-Match must be * or a list of entity tags, such as "3"', { details: [{ path: '/headers/if-match', message: 'is not a list of entity tags' }] });
  }
  return tags;
}
