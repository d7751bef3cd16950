/** REST for alerts and escalation policies. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { EscalationPolicy } from './policy.js';
import type { AlertService, AlertsQuery } from './service.js';

type Id = { id: string };

export function registerAlertRoutes(router: Router, requireUser: Middleware, service: AlertService): void {
  router.get('/alerts', requireUser, validate({ query: 'http/alert-query' }), async (ctx) => {
    ctx.body = await service.list(actorOf(ctx), valid<AlertsQuery>(ctx.state, 'query'));
  });
  router.get('/alerts/:id', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await service.get(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.get('/alerts/:id/notifications', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await service.notifications(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.post('/alerts/:id/ack', requireUser, validate({ params: 'http/id-params', body: 'http/alert-ack' }), async (ctx) => {
    ctx.body = await service.acknowledge(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ note?: string }>(ctx.state, 'body').note);
  });
  router.post('/alerts/:id/resolve', requireUser, validate({ params: 'http/id-params', body: 'http/alert-resolve' }), async (ctx) => {
    ctx.body = await service.resolve(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ note: string }>(ctx.state, 'body').note);
  });

  router.get('/escalation-policy', requireUser, async (ctx) => {
    ctx.body = await service.getOrganisationPolicy(actorOf(ctx));
  });
  router.put('/escalation-policy', requireUser, validate({ body: 'http/escalation-policy' }), async (ctx) => {
    ctx.body = await service.putOrganisationPolicy(actorOf(ctx), valid<EscalationPolicy>(ctx.state, 'body'));
  });
  router.get('/patients/:id/escalation-policy', requireUser, validate({ params: 'http/id-params' }), async (ctx) => {
    ctx.body = await service.getPatientPolicy(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.put('/patients/:id/escalation-policy', requireUser, validate({ params: 'http/id-params', body: 'http/escalation-policy' }), async (ctx) => {
    ctx.body = await service.putPatientPolicy(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<EscalationPolicy>(ctx.state, 'body'));
  });
}
