/**
 * What patients report to their care team: a symptom, or a request for help. A report is written
 * once and never edited (it is part of the record); a help request names the alert it raised.
 * Models are registered on the hub's connection, never on mongoose's global one.
 */
import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose';

export const REPORT_KINDS = ['symptom', 'help'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

/** How a report came: the app (REST), the chat assistant, or a voice session. */
export const REPORT_SOURCES = ['app', 'chat', 'voice'] as const;
export type ReportSource = (typeof REPORT_SOURCES)[number];

export const SEVERITIES = ['mild', 'moderate', 'severe'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const URGENCIES = ['routine', 'urgent', 'emergency'] as const;
export type Urgency = (typeof URGENCIES)[number];

const symptomSchema = new Schema(
  {
    name: { type: String, required: true },
    severity: { type: String, enum: SEVERITIES, required: true },
    notes: { type: String, default: null },
    startedAt: { type: Date, default: null },
  },
  { _id: false },
);

const helpSchema = new Schema(
  {
    urgency: { type: String, enum: URGENCIES, required: true },
    reason: { type: String, required: true },
    alertId: { type: Schema.Types.ObjectId, default: null },
    /** Raising the alert failed: how often, and when the job reports.help-alerts tries again. */
    alertAttempts: { type: Number, default: 0 },
    nextAttemptAt: { type: Date, default: null },
  },
  { _id: false },
);

const reportSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    kind: { type: String, enum: REPORT_KINDS, required: true },
    symptom: { type: symptomSchema, default: null },
    help: { type: helpSchema, default: null },
    reportedBy: { type: new Schema({ userId: { type: Schema.Types.ObjectId, required: true }, role: { type: String, required: true } }, { _id: false }), required: true },
    source: { type: String, enum: REPORT_SOURCES, required: true },
    /** The conversation or voice session it came from. */
    sourceRef: { type: String, default: null },
    /**
     * What asked for it, when that may ask again (a voice function call relayed twice): one report per
     * key. Absent otherwise (the index is sparse).
     */
    originKey: { type: String },
  },
  { timestamps: { createdAt: true, updatedAt: false } },
);
reportSchema.index({ patientId: 1, _id: -1 });
reportSchema.index({ originKey: 1 }, { unique: true, sparse: true });
// Help requests whose alert is still to raise (reports/service.ts, raiseMissingAlerts).
reportSchema.index({ kind: 1, 'help.alertId': 1, createdAt: 1 });
// A patient's reports of a period (summaries).
reportSchema.index({ patientId: 1, createdAt: 1 });

export type ReportDoc = InferSchemaType<typeof reportSchema> & { _id: Types.ObjectId; createdAt: Date };

export function reportModels(connection: Connection) {
  return {
    Report: connection.model<ReportDoc>('PatientReport', reportSchema, 'patient_reports'),
  };
}

export type ReportModels = ReturnType<typeof reportModels>;
