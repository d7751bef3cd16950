/**
 * Reports: symptoms a patient describes and their requests for help, from the app, the chat
 * assistant or a voice session, all through here so that each is checked, audited and told alike.
 *
 * A help request is stored first, then raises a `help.requested` alert whose cause is the patient and
 * the urgency: asking again while it is open re-activates it once acknowledged, like a second press of
 * the dispenser's help button (alerts/reactivate.ts), and the report's id is the occurrence's, so the
 * same report raised again is not a new incident. The reason stays in the report, readable by whoever
 * may see the patient; the alert carries only ids and the urgency (its notifications leave the hub).
 * A request whose alert could not be raised is answered 503 and kept; the job
 * `reports.help-alerts` raises its alert within a minute or two.
 *
 * A report asked for with an origin key (a voice function call, which its client may relay again) is
 * stored once per key: asked again, it is answered as stored.
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { patientAudience } from '../../transports/socket/rooms.js';
import type { AlertsApi, AlertSeverity } from '../alerts/contract.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Policy } from '../identity/policy.js';
import type { ReportDoc, ReportKind, ReportModels, ReportSource, Severity, Urgency } from './models.js';
import { toReportView, type ReportView } from './views.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface SymptomInput {
  symptom: string;
  severity: Severity;
  notes?: string;
  startedAt?: string;
}

export interface HelpInput {
  urgency: Urgency;
  reason: string;
}

/** Where a report came from: `ref` is the conversation or voice session; `key`, what may ask for it again. */
export interface ReportOrigin {
  source: ReportSource;
  ref?: string | null;
  key?: string;
}

/** A help request's alert is raised by the job once the request is this old and still has none. */
const ALERT_RETRY_AFTER_MS = 30_000;
/** …and tried for this long, each failure waiting longer (1, 2, 4… minutes, at most an hour): past it, it is stale news, kept in the report only. */
const ALERT_RETRY_FOR_MS = 24 * 3_600_000;
const MAX_BACKOFF_MS = 3_600_000;

/** routine: a warning from the first tier; urgent and emergency: critical, the first two tiers at once (as the help button). */
const ALERT_OF: Record<Urgency, { severity: AlertSeverity; startTier: number }> = {
  routine: { severity: 'warning', startTier: 0 },
  urgent: { severity: 'critical', startTier: 1 },
  emergency: { severity: 'critical', startTier: 1 },
};

interface Deps {
  models: ReportModels;
  policy: Policy;
  audit: AuditLog;
  alerts: Pick<AlertsApi, 'raise'>;
  sockets: Pick<SocketTransport, 'emit'>;
  clock: Clock;
  logger: Logger;
}

export function createReportService({ models, policy, audit, alerts, sockets, clock, logger }: Deps) {
  const { Report } = models;
  const track = <T>(actor: Actor, action: string, objectId: string, run: () => Promise<T>) => audited(audit, actor, { action, objectType: 'patient', objectId }, run);

  function tell(report: ReportDoc): ReportView {
    const view = toReportView(report);
    sockets.emit(patientAudience({ id: String(report.patientId), organisationId: String(report.organisationId) }), 'report:created', view);
    return view;
  }

  /** The report, created; or the one stored already under the origin's key. */
  async function store(actor: Actor, patient: { _id: Types.ObjectId; organisationId: Types.ObjectId }, kind: ReportKind, content: Pick<ReportDoc, 'symptom' | 'help'>, origin: ReportOrigin): Promise<{ report: ReportDoc; created: boolean }> {
    try {
      const created = await Report.create({
        organisationId: patient.organisationId,
        patientId: patient._id,
        kind,
        ...content,
        reportedBy: { userId: new Types.ObjectId(actor.principal.userId), role: actor.principal.role },
        source: origin.source,
        sourceRef: origin.ref ?? null,
        ...(origin.key ? { originKey: origin.key } : {}),
        createdAt: clock.now(),
      });
      return { report: created.toObject(), created: true };
    } catch (error) {
      if (!origin.key || !isDuplicateKey(error)) throw error;
      const stored = await Report.findOne({ originKey: origin.key }).lean<ReportDoc>();
      if (!stored) throw error;
      if (String(stored.patientId) !== String(patient._id) || stored.kind !== kind) throw new AppError('idempotency_key_reused', 'This key was used for another report');
      return { report: stored, created: false };
    }
  }

  /** Raises the request's alert (again: the report's id makes it the same occurrence) and links it to the report. */
  async function raiseAlertFor(report: ReportDoc): Promise<ReportDoc> {
    const urgency = report.help?.urgency as Urgency;
    const patientId = String(report.patientId);
    const alert = await alerts.raise({
      organisationId: String(report.organisationId),
      patientId,
      type: 'help.requested',
      cause: `help.requested:patient:${patientId}:${urgency}`,
      ...ALERT_OF[urgency],
      // Ids and the urgency only: the reason is health data, read in the report.
      details: { eventId: String(report._id), reportId: String(report._id), urgency, source: report.source },
      at: report.createdAt,
    });
    const linked = await Report.findOneAndUpdate({ _id: report._id }, { $set: { 'help.alertId': new Types.ObjectId(alert.id) } }, { new: true }).lean<ReportDoc>();
    return linked ?? report;
  }

  return {
    async logSymptom(actor: Actor, patientId: string, input: SymptomInput, origin: ReportOrigin): Promise<ReportView> {
      return track(actor, 'report.symptom', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'report.write');
        const startedAt = input.startedAt ? new Date(input.startedAt) : null;
        if (startedAt && startedAt > clock.now()) throw new AppError('validation_failed', 'startedAt is in the future', { details: [{ path: '/startedAt', message: 'is in the future' }] });
        const symptom = { name: input.symptom.trim(), severity: input.severity, notes: input.notes?.trim() || null, startedAt };
        const { report, created } = await store(actor, patient, 'symptom', { symptom, help: null }, origin);
        return created ? tell(report) : toReportView(report);
      });
    },

    /** Stores the request and raises its alert; if the alert cannot be raised the caller is told (503), the report kept. */
    async requestHelp(actor: Actor, patientId: string, input: HelpInput, origin: ReportOrigin): Promise<ReportView> {
      return track(actor, 'report.help', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'report.write');
        const { report, created } = await store(actor, patient, 'help', { symptom: null, help: { urgency: input.urgency, reason: input.reason.trim(), alertId: null, alertAttempts: 0, nextAttemptAt: null } }, origin);
        if (!created && report.help?.alertId) return toReportView(report);
        try {
          const linked = await raiseAlertFor(report);
          // Asked again (the same voice call), the report was told when it was stored.
          return created ? tell(linked) : toReportView(linked);
        } catch (error) {
          logger.error({ err: error, reportId: String(report._id), patientId }, 'help request stored, but its alert could not be raised (the job reports.help-alerts retries)');
          if (created) tell(report);
          throw new AppError('unavailable', 'The help request was recorded, but the care team could not be alerted. Contact them directly.', { cause: error, expose: true });
        }
      });
    },

    /** The job `reports.help-alerts`: raises the alerts of help requests that have none (their raise failed). Returns how many. */
    async raiseMissingAlerts(): Promise<number> {
      const now = clock.now();
      const waiting = await Report.find({
        kind: 'help',
        'help.alertId': null,
        createdAt: { $gt: new Date(now.getTime() - ALERT_RETRY_FOR_MS), $lt: new Date(now.getTime() - ALERT_RETRY_AFTER_MS) },
        // Those failing again wait their turn: they do not hold back the newer ones.
        $or: [{ 'help.nextAttemptAt': null }, { 'help.nextAttemptAt': { $lte: now } }],
      })
        .sort({ createdAt: -1 })
        .limit(100)
        .lean<ReportDoc[]>();
      let raised = 0;
      for (const report of waiting) {
        try {
          await raiseAlertFor(report);
          raised += 1;
        } catch (error) {
          const attempts = (report.help?.alertAttempts ?? 0) + 1;
          const wait = Math.min(MAX_BACKOFF_MS, 60_000 * 2 ** (attempts - 1));
          await Report.updateOne({ _id: report._id }, { $set: { 'help.alertAttempts': attempts, 'help.nextAttemptAt': new Date(now.getTime() + wait) } });
          logger.error({ err: error, reportId: String(report._id), attempts }, 'help request alert still could not be raised');
        }
      }
      return raised;
    },

    async list(actor: Actor, patientId: string, query: PageRequest & { kind?: ReportKind }): Promise<Page<ReportView>> {
      return track(actor, 'report.read', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'report.read');
        const filter = { patientId: patient._id, organisationId: patient.organisationId, ...(query.kind ? { kind: query.kind } : {}) };
        return paginate(Report, filter, query, toReportView);
      });
    },
  };
}

export type ReportService = ReturnType<typeof createReportService>;
