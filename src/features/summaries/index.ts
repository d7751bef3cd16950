/**
 * Summaries: daily and weekly summaries of each patient's medication for the care team, counted from
 * the doses, alerts and reports, and written by the assistant's language model (fixed rules without
 * one). Builds on identity, doses, alerts and reports; the nightly job runs every hour and writes what
 * is due (service.ts).
 */
import type { Types } from 'mongoose';
import type { LanguageModel } from '../../ports/language-model.js';
import type { HubContext } from '../context.js';
import type { Alerts } from '../alerts/index.js';
import type { Doses } from '../doses/index.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import type { Reports } from '../reports/index.js';
import type { ReportDoc } from '../reports/models.js';
import { summaryModels } from './models.js';
import { registerSummaryRoutes } from './routes.js';
import { createSummaryService } from './service.js';

export async function registerSummaries(ctx: HubContext, deps: { identity: Identity; doses: Doses; alerts: Pick<Alerts, 'models'>; reports: Reports; languageModel: LanguageModel }) {
  const models = summaryModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const { Patient } = deps.identity.models;
  const { Plan } = deps.doses.models;
  const service = createSummaryService({
    models,
    sources: {
      adherenceOf: deps.doses.service.adherenceOf,
      alertsRaised: (patient, start, end) => deps.alerts.models.Alert.find({ organisationId: patient.organisationId, patientId: patient._id, raisedAt: { $gte: start, $lt: end } }, { type: 1 }).lean<Array<{ type: string }>>(),
      reportsMade: (patientId, start, end) => deps.reports.models.Report.find({ patientId, createdAt: { $gte: start, $lt: end } }, { kind: 1, symptom: 1 }).lean<ReportDoc[]>(),
    },
    async plannedPatients() {
      const plans = await Plan.find({}, { patientId: 1, 'schedule.startDate': 1 }).lean<Array<{ patientId: Types.ObjectId; schedule: Array<{ startDate: string }> }>>();
      const since = new Map(plans.map((plan) => [String(plan.patientId), plan.schedule.map((item) => item.startDate).sort()[0]]));
      const patients = await Patient.find({ _id: { $in: plans.map((plan) => plan.patientId) } }, { organisationId: 1, name: 1, timezone: 1 }).lean<PatientDoc[]>();
      return patients.flatMap((patient) => {
        const first = since.get(String(patient._id));
        return first ? [{ patient, since: first }] : [];
      });
    },
    languageModel: deps.languageModel,
    policy: deps.identity.policy,
    audit: deps.identity.audit,
    sockets: ctx.sockets,
    clock: ctx.clock,
    logger: ctx.logger.child({ feature: 'summaries' }),
  });
  registerSummaryRoutes(ctx.http.api, deps.identity.requireUser, service);
  // Hourly: each patient's day ends at its own local midnight.
  ctx.jobs.add('summaries.nightly', '15 * * * *', () => service.writeDue());
  return { models, service };
}

export type Summaries = Awaited<ReturnType<typeof registerSummaries>>;
