/**
 * Reports: symptoms a patient describes and their requests for help, from the app, the chat
 * assistant or a voice session, all through here so that each is checked, audited and told alike.
 *
 * A help request is stored first, then raises a `help.requested` alert whose cause is the patient and
 * the urgency: asking again while it is open re-activates it once acknowledged, like a second press of
 * the dispenser's help button (alerts/reactivate.ts), and the report's id is the occurrence's, so a
 * retried request is not a new incident. The reason stays in the report, readable by whoever may see
 * the patient; the alert carries only ids and the urgency (its notifications leave the hub).
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

/** Where a report came from: `ref` is the conversation or voice session. */
export interface ReportOrigin {
  source: ReportSource;
  ref?: string | null;
}

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

  async function store(actor: Actor, patient: { _id: Types.ObjectId; organisationId: Types.ObjectId }, kind: ReportKind, content: Pick<ReportDoc, 'symptom' | 'help'>, origin: ReportOrigin): Promise<ReportDoc> {
    const [created] = await Report.create([{
      organisationId: patient.organisationId,
      patientId: patient._id,
      kind,
      ...content,
      reportedBy: { userId: new Types.ObjectId(actor.principal.userId), role: actor.principal.role },
      source: origin.source,
      sourceRef: origin.ref ?? null,
      createdAt: clock.now(),
    }]);
    return (created as unknown as { toObject(): ReportDoc }).toObject();
  }

  return {
    async logSymptom(actor: Actor, patientId: string, input: SymptomInput, origin: ReportOrigin): Promise<ReportView> {
      return track(actor, 'report.symptom', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'report.write');
        const startedAt = input.startedAt ? new Date(input.startedAt) : null;
        if (startedAt && startedAt > clock.now()) throw new AppError('validation_failed', 'startedAt is in the future', { details: [{ path: '/startedAt', message: 'is in the future' }] });
        const symptom = { name: input.symptom.trim(), severity: input.severity, notes: input.notes?.trim() || null, startedAt };
        return tell(await store(actor, patient, 'symptom', { symptom, help: null }, origin));
      });
    },

    /** Stores the request and raises its alert; if the alert cannot be raised the caller is told (503), the report kept. */
    async requestHelp(actor: Actor, patientId: string, input: HelpInput, origin: ReportOrigin): Promise<ReportView> {
      return track(actor, 'report.help', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'report.write');
        const report = await store(actor, patient, 'help', { symptom: null, help: { urgency: input.urgency, reason: input.reason.trim(), alertId: null } }, origin);
        const reportId = String(report._id);
        let alert;
        try {
          alert = await alerts.raise({
            organisationId: String(patient.organisationId),
            patientId: String(patient._id),
            type: 'help.requested',
            cause: `help.requested:patient:${String(patient._id)}:${input.urgency}`,
            ...ALERT_OF[input.urgency],
            // Ids and the urgency only: the reason is health data, read in the report.
            details: { eventId: reportId, reportId, urgency: input.urgency, source: origin.source },
            at: report.createdAt,
          });
        } catch (error) {
          logger.error({ err: error, reportId, patientId }, 'help request stored, but its alert could not be raised');
          tell(report);
          throw new AppError('unavailable', 'The help request was recorded, but the care team could not be alerted. Contact them directly.', { cause: error, expose: true });
        }
        const updated = await Report.findOneAndUpdate({ _id: report._id }, { $set: { 'help.alertId': new Types.ObjectId(alert.id) } }, { new: true }).lean<ReportDoc>();
        return tell(updated ?? report);
      });
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
