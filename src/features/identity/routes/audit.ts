import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { Types } from 'mongoose';
import { paginate, type PageRequest } from '../../../store/pagination.js';
import { validate, valid } from '../../../transports/http/validate.js';
import { toAuditView, type AuditLog, type AuditOutcome } from '../../audit/audit-log.js';
import { audited } from '../actor.js';
import { actorOf } from '../http-auth.js';
import type { Policy } from '../policy.js';

interface AuditQuery extends PageRequest {
  objectType?: string;
  objectId?: string;
  actorId?: string;
  outcome?: AuditOutcome;
}

export function registerAuditRoutes(router: Router, requireUser: Middleware, policy: Policy, audit: AuditLog): void {
  // Reading the log is itself recorded (who looked at whose trail), a refusal too.
  router.get('/audit', requireUser, validate({ query: 'http/audit-query' }), async (ctx) => {
    const actor = actorOf(ctx);
    const query = valid<AuditQuery>(ctx.state, 'query');
    ctx.body = await audited(audit, actor, { action: 'audit.read', objectType: 'audit' }, async () => {
      policy.assertMay(actor.principal, 'audit.read');
      const filter = {
        organisationId: new Types.ObjectId(actor.principal.organisationId),
        ...(query.objectType ? { objectType: query.objectType } : {}),
        ...(query.objectId ? { objectId: query.objectId } : {}),
        ...(query.actorId ? { 'actor.id': query.actorId } : {}),
        ...(query.outcome ? { outcome: query.outcome } : {}),
      };
      return paginate(audit.model, filter, query, toAuditView);
    });
  });
}
