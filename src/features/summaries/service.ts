/**
 * Summaries: written once per patient and period (unique index), by the nightly job for every patient
 * with a medication plan, or at once when someone who may act for the patient asks. A period is
 * summarised only when it is over in the patient's zone, and the job waits until 02:00 local the next
 * day, after the doses sweep has settled the last doses of the evening.
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { LanguageModel } from '../../ports/language-model.js';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { patientAudience } from '../../transports/socket/rooms.js';
import type { AuditLog } from '../audit/audit-log.js';
import { addDays, localDate, localToUtc, weekday } from '../doses/zone.js';
import { audited, type Actor } from '../identity/actor.js';
import type { PatientDoc } from '../identity/models.js';
import type { Policy } from '../identity/policy.js';
import { gatherFacts, type FactSources, type SummaryPatient } from './facts.js';
import type { Period, SummaryDoc, SummaryModels } from './models.js';
import { toSummaryView, type SummaryView } from './views.js';
import { writeSummary } from './writer.js';

/** The nightly job writes yesterday's (and last week's) summaries from this local hour. */
const JOB_LOCAL_TIME = '02:00';
/** Summaries the job writes per run at most (each may call the model); the rest on the next runs. */
const JOB_BATCH = 100;

interface Deps {
  models: SummaryModels;
  sources: FactSources;
  patients: { find(filter: Record<string, unknown>): Promise<PatientDoc[]> };
  plannedPatientIds(): Promise<Types.ObjectId[]>;
  languageModel: LanguageModel;
  policy: Policy;
  audit: AuditLog;
  sockets: Pick<SocketTransport, 'emit'>;
  clock: Clock;
  logger: Logger;
}

/** The local dates a period holding `date` covers: the day, or its week from Monday. */
export function periodOf(period: Period, date: string): { from: string; to: string } {
  if (period === 'day') return { from: date, to: date };
  const from = addDays(date, 1 - weekday(date));
  return { from, to: addDays(from, 6) };
}

export function createSummaryService(deps: Deps) {
  const { models, languageModel, policy, audit, clock, logger } = deps;
  const { Summary } = models;

  /** The summary of the period, written now unless it exists; `created` false when it did. */
  async function summarise(patient: SummaryPatient, period: Period, from: string, to: string, requestedBy: string | null): Promise<{ summary: SummaryDoc; created: boolean }> {
    const existing = await Summary.findOne({ patientId: patient._id, period, from }).lean<SummaryDoc>();
    if (existing) return { summary: existing, created: false };
    const facts = await gatherFacts(deps.sources, patient, from, to);
    const written = await writeSummary(languageModel, { patientName: patient.name, period, from, to }, facts);
    try {
      const [created] = await Summary.create([{
        organisationId: patient.organisationId,
        patientId: patient._id,
        period,
        from,
        to,
        timeZone: patient.timezone,
        facts,
        ...written,
        generatedAt: clock.now(),
        requestedBy: requestedBy ? new Types.ObjectId(requestedBy) : null,
      }]);
      const summary = (created as unknown as { toObject(): SummaryDoc }).toObject();
      deps.sockets.emit(patientAudience({ id: String(patient._id), organisationId: String(patient.organisationId) }), 'summary:created', toSummaryView(summary));
      logger.info({ patientId: String(patient._id), period, from, writer: written.writer.kind, errorCode: written.writer.errorCode }, 'summary written');
      return { summary, created: true };
    } catch (error) {
      // Written meanwhile by another instance or request: that one stands.
      if ((error as { code?: number }).code !== 11000) throw error;
      const stored = await Summary.findOne({ patientId: patient._id, period, from }).lean<SummaryDoc>();
      if (!stored) throw error;
      return { summary: stored, created: false };
    }
  }

  /** The periods over for a patient at `now` whose summaries the job writes: yesterday, and last week. */
  function duePeriods(patient: SummaryPatient, now: Date): Array<{ period: Period; from: string; to: string }> {
    const today = localDate(now, patient.timezone);
    if (now < localToUtc(today, JOB_LOCAL_TIME, patient.timezone)) return [];
    const yesterday = addDays(today, -1);
    return [{ period: 'day', ...periodOf('day', yesterday) }, { period: 'week', ...periodOf('week', addDays(today, -7)) }];
  }

  return {
    /** The job `summaries.nightly`: yesterday's and last week's summaries of every patient with a plan, written once. Returns how many were written. */
    async writeDue(): Promise<number> {
      const now = clock.now();
      const patients = await deps.patients.find({ _id: { $in: await deps.plannedPatientIds() } });
      let written = 0;
      for (const patient of patients) {
        for (const { period, from, to } of duePeriods(patient, now)) {
          if (written >= JOB_BATCH) return written;
          try {
            if ((await summarise(patient, period, from, to, null)).created) written += 1;
          } catch (error) {
            logger.error({ err: error, patientId: String(patient._id), period, from }, 'summary could not be written');
          }
        }
      }
      return written;
    },

    async request(actor: Actor, patientId: string, input: { period: Period; date?: string }): Promise<{ summary: SummaryView; created: boolean }> {
      return audited(audit, actor, { action: 'summary.request', objectType: 'patient', objectId: patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'summary.write');
        const today = localDate(clock.now(), patient.timezone);
        const date = input.date ?? addDays(today, input.period === 'day' ? -1 : -7);
        const { from, to } = periodOf(input.period, date);
        if (to >= today) throw new AppError('validation_failed', `The ${input.period} of ${date} is not over yet in the patient's time zone (${patient.timezone})`, { details: [{ path: '/date', message: 'is in a period not over yet' }] });
        const { summary, created } = await summarise(patient, input.period, from, to, actor.principal.userId);
        return { summary: toSummaryView(summary), created };
      });
    },

    async list(actor: Actor, patientId: string, query: PageRequest & { period?: Period }): Promise<Page<SummaryView>> {
      return audited(audit, actor, { action: 'summary.read', objectType: 'patient', objectId: patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'summary.read');
        return paginate(Summary, { patientId: patient._id, organisationId: patient.organisationId, ...(query.period ? { period: query.period } : {}) }, query, toSummaryView);
      });
    },
  };
}

export type SummaryService = ReturnType<typeof createSummaryService>;
