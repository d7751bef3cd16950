/**
 * Reports: what patients tell their care team — symptoms, and requests for help that raise a
 * `help.requested` alert. From the app over REST, and from the assistant's `log_symptom` and
 * `request_help` tools in chat and voice (features/intents). Builds on identity and alerts.
 */
import type { HubContext } from '../context.js';
import type { Alerts } from '../alerts/index.js';
import type { Identity } from '../identity/index.js';
import { reportModels } from './models.js';
import { registerReportRoutes } from './routes.js';
import { createReportService } from './service.js';

export async function registerReports(ctx: HubContext, deps: { identity: Identity; alerts: Pick<Alerts, 'raise'> }) {
  const models = reportModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const service = createReportService({
    models,
    policy: deps.identity.policy,
    audit: deps.identity.audit,
    alerts: deps.alerts,
    sockets: ctx.sockets,
    clock: ctx.clock,
    logger: ctx.logger.child({ feature: 'reports' }),
  });
  registerReportRoutes(ctx.http.api, deps.identity.requireUser, service);
  // Help requests whose alert could not be raised when they came: raised late rather than never.
  ctx.jobs.add('reports.help-alerts', '* * * * *', () => service.raiseMissingAlerts());
  return { models, service };
}

export type Reports = Awaited<ReturnType<typeof registerReports>>;
