/**
 * Summaries: written once per patient and period (unique index), by the hourly job for every patient
 * with a medication plan, or at once when someone who may act for the patient asks.
 *
 * A period is summarised only when it is over in the patient's zone and its doses are settled: the
 * job starts at 02:00 local the next day, and a period whose doses are still open (a late evening dose
 * with a long window) waits for them, up to two days after it ended. The job goes back over the last
 * week of days and two weeks, oldest first, so a period missed (the hub down, a night with more to
 * write than a run allows) is written later rather than never; it reads what is written in one query,
 * and stops starting summaries after RUN_BUDGET_MS.
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
import type { Policy } from '../identity/policy.js';
import { gatherFacts, type FactSources, type SummaryPatient } from './facts.js';
import type { Period, SummaryDoc, SummaryModels } from './models.js';
import { toSummaryView, type SummaryView } from './views.js';
import { writeSummary } from './writer.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

/** A period is written from this local time the day after it ends. */
const READY_LOCAL_TIME = '02:00';
/** Doses still open hold a period's summary back this long after it ended at most. */
const SETTLE_LIMIT_MS = 48 * 3_600_000;
/** How far back the job looks for periods still to write. */
const DAYS_BACK = 7;
const WEEKS_BACK = 2;
/** A run starts no summary after this long (each may wait on the model); the rest on the next runs. */
const RUN_BUDGET_MS = 45_000;

/** A patient with a plan, and the first local date it schedules (no summary of the days before). */
export interface PlannedPatient {
  patient: SummaryPatient;
  since: string;
}

interface Deps {
  models: SummaryModels;
  sources: FactSources;
  plannedPatients(): Promise<PlannedPatient[]>;
  languageModel: LanguageModel;
  policy: Policy;
  audit: AuditLog;
  sockets: Pick<SocketTransport, 'emit'>;
  clock: Clock;
  logger: Logger;
}

type Outcome = { summary: SummaryDoc; created: boolean } | { summary: null; unsettled: true };

/** The local dates a period holding `date` covers: the day, or its week from Monday. */
export function periodOf(period: Period, date: string): { from: string; to: string } {
  if (period === 'day') return { from: date, to: date };
  const from = addDays(date, 1 - weekday(date));
  return { from, to: addDays(from, 6) };
}

/** The instant a period ending on local date `to` is over: midnight after it, in the patient's zone. */
const endOf = (to: string, zone: string): Date => localToUtc(addDays(to, 1), '00:00', zone);

export function createSummaryService(deps: Deps) {
  const { models, languageModel, policy, audit, clock, logger } = deps;
  const { Summary } = models;

  /**
   * The summary of the period, written now unless it exists (`created` false), or nothing yet while
   * some of its doses are still open (`unsettled`, up to SETTLE_LIMIT_MS after it ended).
   */
  async function summarise(patient: SummaryPatient, period: Period, from: string, to: string, requestedBy: string | null): Promise<Outcome> {
    const existing = await Summary.findOne({ patientId: patient._id, period, from }).lean<SummaryDoc>();
    if (existing) return { summary: existing, created: false };
    const facts = await gatherFacts(deps.sources, patient, from, to);
    if (facts.doses.pending > 0 && clock.now().getTime() < endOf(to, patient.timezone).getTime() + SETTLE_LIMIT_MS) return { summary: null, unsettled: true };
    const written = await writeSummary(languageModel, { patientName: patient.name, period, from, to }, facts);
    try {
      const created = await Summary.create({
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
      });
      const summary = created.toObject();
      deps.sockets.emit(patientAudience({ id: String(patient._id), organisationId: String(patient.organisationId) }), 'summary:created', toSummaryView(summary));
      logger.info({ patientId: String(patient._id), period, from, writer: written.writer.kind, errorCode: written.writer.errorCode }, 'summary written');
      return { summary, created: true };
    } catch (error) {
      // Written meanwhile by another instance or request: that one stands.
      if (!isDuplicateKey(error)) throw error;
      const stored = await Summary.findOne({ patientId: patient._id, period, from }).lean<SummaryDoc>();
      if (!stored) throw error;
      return { summary: stored, created: false };
    }
  }

  /** The periods of a patient the job may write at `now`, oldest first: over since READY_LOCAL_TIME the next day, none before the plan. */
  function readyPeriods({ patient, since }: PlannedPatient, now: Date): Array<{ period: Period; from: string; to: string }> {
    const today = localDate(now, patient.timezone);
    const candidates = [
      ...Array.from({ length: WEEKS_BACK }, (_, i) => ({ period: 'week' as const, ...periodOf('week', addDays(today, -7 * (WEEKS_BACK - i))) })),
      ...Array.from({ length: DAYS_BACK }, (_, i) => ({ period: 'day' as const, ...periodOf('day', addDays(today, i - DAYS_BACK)) })),
    ];
    return candidates
      .filter(({ to }) => to >= since && now >= localToUtc(addDays(to, 1), READY_LOCAL_TIME, patient.timezone))
      .sort((a, b) => a.to.localeCompare(b.to));
  }

  return {
    /** The job `summaries.nightly`: the periods over and settled of every patient with a plan, each written once. Returns how many were written. */
    async writeDue(): Promise<number> {
      const started = Date.now();
      const now = clock.now();
      const planned = await deps.plannedPatients();
      if (planned.length === 0) return 0;
      // What is written already, in one read: the job runs every hour.
      const earliest = addDays(localDate(now, 'UTC'), -7 * (WEEKS_BACK + 1));
      const written = await Summary.find({ patientId: { $in: planned.map(({ patient }) => patient._id) }, from: { $gte: earliest } }, { patientId: 1, period: 1, from: 1 }).lean<SummaryDoc[]>();
      const have = new Set(written.map((s) => `${String(s.patientId)} ${s.period} ${s.from}`));
      const due = planned
        .flatMap((entry) => readyPeriods(entry, now).map((period) => ({ patient: entry.patient, ...period })))
        .filter(({ patient, period, from }) => !have.has(`${String(patient._id)} ${period} ${from}`))
        .sort((a, b) => a.to.localeCompare(b.to));
      let count = 0;
      for (const { patient, period, from, to } of due) {
        if (Date.now() - started > RUN_BUDGET_MS) {
          logger.info({ written: count, left: due.length - count }, 'summaries: run budget spent; the rest on the next runs');
          break;
        }
        try {
          const outcome = await summarise(patient, period, from, to, null);
          if (outcome.summary && outcome.created) count += 1;
        } catch (error) {
          logger.error({ err: error, patientId: String(patient._id), period, from }, 'summary could not be written');
        }
      }
      return count;
    },

    async request(actor: Actor, patientId: string, input: { period: Period; date?: string }): Promise<{ summary: SummaryView; created: boolean }> {
      return audited(audit, actor, { action: 'summary.request', objectType: 'patient', objectId: patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'summary.write');
        const today = localDate(clock.now(), patient.timezone);
        const date = input.date ?? addDays(today, input.period === 'day' ? -1 : -7);
        const { from, to } = periodOf(input.period, date);
        if (to >= today) throw new AppError('validation_failed', `The ${input.period} of ${date} is not over yet in the patient's time zone (${patient.timezone})`, { details: [{ path: '/date', message: 'is in a period not over yet' }] });
        const outcome = await summarise(patient, input.period, from, to, actor.principal.userId);
        if (!outcome.summary) throw new AppError('conflict', `Some doses of the ${input.period} of ${date} are still open; ask again once they are settled`, { headers: { 'Retry-After': '3600' } });
        return { summary: toSummaryView(outcome.summary), created: outcome.created };
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
