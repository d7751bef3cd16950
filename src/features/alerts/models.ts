/**
 * Alerts, their notifications (with every delivery attempt) and escalation
 * policies. At most one alert per cause is open: `open` is true while the
 * alert is active or acknowledged, and a unique index restricted to open
 * alerts (partialFilterExpression) makes a second `raise` of the same cause
 * fail with E11000, which the service answers with the open alert.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';
import { NOTIFY_CHANNELS } from '../../ports/notifier.js';
import { ALERT_SEVERITIES, ALERT_STATUSES, ALERT_TYPES } from './contract.js';

const actionSchema = new Schema(
  {
    /** The user, or null when the hub did it (auto-resolution). */
    by: { type: String, default: null },
    at: { type: Date, required: true },
    note: { type: String, default: null },
    auto: { type: Boolean, default: false },
    /**
     * Which automatic resolution wrote this (resolve.ts): two resolving the same cause at the same
     * instant with the same note are otherwise indistinguishable, and each would follow it up.
     */
    claim: { type: Schema.Types.ObjectId, default: undefined },
  },
  { _id: false },
);

/**
 * An acknowledged alert whose cause happened again (a second press of the help button): what
 * re-activated it, and the acknowledgement it lifted, so the alert keeps its whole story.
 */
const reactivationSchema = new Schema(
  {
    /** When the hub re-activated it. */
    at: { type: Date, required: true },
    /** When the cause happened again (the device event's time). */
    occurredAt: { type: Date, required: true },
    /** The acknowledgement this occurrence lifted. */
    acknowledged: { type: actionSchema, required: true },
    /** The new occurrence's details (its eventId, slot…), ids and non-clinical facts only. */
    details: { type: Schema.Types.Mixed, default: {} },
  },
  { _id: false },
);

const recipientSchema = new Schema(
  {
    careTeam: { type: { priority: { type: Number, required: true } }, default: undefined, _id: false },
    role: { type: String, default: undefined },
    userId: { type: String, default: undefined },
  },
  { _id: false },
);

const tierSchema = new Schema(
  {
    recipients: { type: [recipientSchema], default: [] },
    channels: { type: [{ type: String, enum: NOTIFY_CHANNELS }], default: ['socket'] },
    /** Minutes after the previous tier was notified (unacknowledged) before this one is; ignored for the first tier. */
    delayMinutes: { type: Number, default: 0 },
  },
  { _id: false },
);

const endpointSchema = new Schema({ url: { type: String, required: true }, secret: { type: String, required: true } }, { _id: false });

const policyBody = {
  tiers: { type: [tierSchema], default: [] },
  quietHours: { type: { start: String, end: String }, default: null, _id: false },
  webhooks: { type: [endpointSchema], default: [] },
  sms: { type: endpointSchema, default: null },
  voice: { type: endpointSchema, default: null },
};

const policySchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    /** null for the organisation's default. */
    patientId: { type: Schema.Types.ObjectId, default: null },
    ...policyBody,
    updatedBy: { type: String, default: null },
  },
  { timestamps: true },
);
policySchema.index({ organisationId: 1, patientId: 1 }, { unique: true });

const alertSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, default: null },
    deviceId: { type: String, default: null },
    type: { type: String, enum: ALERT_TYPES, required: true },
    severity: { type: String, enum: ALERT_SEVERITIES, required: true },
    cause: { type: String, required: true },
    status: { type: String, enum: ALERT_STATUSES, default: 'active' },
    /** True while active or acknowledged: the unique partial index keeps one open alert per cause. */
    open: { type: Boolean, default: true },
    raisedAt: { type: Date, required: true },
    acknowledged: { type: actionSchema, default: null },
    resolved: { type: actionSchema, default: null },
    /** The tier escalation has reached; tiers below it were notified too. */
    tier: { type: Number, default: 0 },
    /** Highest tier actually notified (-1: none yet, e.g. deferred by quiet hours). */
    notifiedTier: { type: Number, default: -1 },
    /** When the escalation tick next looks at this alert; null when nothing is left to do. */
    nextEscalationAt: { type: Date, default: null },
    /** The policy in force when the alert was raised (escalation follows it even if the policy changes). */
    policy: { type: new Schema({ ...policyBody, timezone: { type: String, default: 'UTC' }, source: { type: String, default: 'default' } }, { _id: false }), required: true },
    /** Ids and non-clinical facts only. */
    details: { type: Schema.Types.Mixed, default: {} },
    /** Each time a new occurrence of the cause re-activated it while acknowledged, oldest first. */
    reactivations: { type: [reactivationSchema], default: [] },
    /**
     * help.requested and device.jam only: the eventIds of the latest repeats it absorbed without
     * counting them (while active), so that one run again later never re-activates it (reactivate.ts).
     * Absent on other alerts. Not part of the alert's view.
     */
    absorbedEventIds: { type: [String], default: undefined },
    /** The alert this one took over from (dose.missed after the same dose's dose.late), or null. */
    follows: { type: Schema.Types.ObjectId, default: null },
  },
  { timestamps: true },
);
alertSchema.index({ cause: 1 }, { unique: true, partialFilterExpression: { open: true } });
// The open alert of causes is asked as {cause, open: true} (open-alerts.ts, resolveCause): the partial
// index answers it, on MongoDB and on the embedded store (whose planner uses a partial index for a
// filter that pins its partial filter's equalities). A plain index on cause too, for the alerts of a
// cause open or resolved (a dose.missed's predecessor, succession.ts), which the partial index cannot
// answer: without it, a scan of every alert ever raised. Descending only because MongoDB refuses a
// second index with the same key pattern.
alertSchema.index({ cause: -1 });
alertSchema.index({ status: 1, nextEscalationAt: 1 });
alertSchema.index({ organisationId: 1, patientId: 1 });
// A patient's alerts of a period (summaries).
alertSchema.index({ patientId: 1, raisedAt: 1 });

const attemptSchema = new Schema(
  {
    attempt: { type: Number, required: true },
    at: { type: Date, required: true },
    ok: { type: Boolean, required: true },
    statusCode: { type: Number, default: null },
    error: { type: String, default: null },
    durationMs: { type: Number, default: null },
  },
  { _id: false },
);

export const NOTIFICATION_STATES = ['pending', 'delivered', 'failed', 'suppressed'] as const;

const notificationSchema = new Schema(
  {
    alertId: { type: Schema.Types.ObjectId, required: true },
    organisationId: { type: Schema.Types.ObjectId, required: true },
    tier: { type: Number, required: true },
    event: { type: String, enum: ['alert.raised', 'alert.reactivated', 'alert.escalated', 'alert.resolved'], required: true },
    channel: { type: String, enum: NOTIFY_CHANNELS, required: true },
    /** The user notified (socket, sms, voice) or the endpoint (webhook: its URL's origin and path). */
    userId: { type: String, default: null },
    endpoint: { type: String, default: null },
    status: { type: String, enum: NOTIFICATION_STATES, default: 'pending' },
    /** Why it was suppressed or failed for good (quiet_hours, no_phone, …). */
    reason: { type: String, default: null },
    attempts: { type: [attemptSchema], default: [] },
    createdAt: { type: Date, required: true },
    completedAt: { type: Date, default: null },
    /**
     * A `pending` notification whose process stopped before its last attempt is resumed by one
     * resumer at a time (resume.ts): the claim, taken with a guarded update, holds until this
     * instant (null: never claimed). Not part of the notification's view.
     */
    resumeClaimedUntil: { type: Date, default: null },
  },
  { versionKey: false },
);
notificationSchema.index({ alertId: 1, createdAt: 1 });
// alertId alone as well: the embedded store's planner uses an index only when the query pins all its
// fields, and follow-ups ask for the notifications of alerts by alertId (else a scan of every notification).
notificationSchema.index({ alertId: 1 });
// The resume job's notifications, and only them: the few still pending (in flight, or interrupted).
// Its query pins `status: 'pending'`, which is what lets the embedded store's planner use a partial
// index; the time and claim conditions are tested on those few.
notificationSchema.index({ status: 1 }, { partialFilterExpression: { status: 'pending' } });

export type AlertDoc = InferSchemaType<typeof alertSchema> & { _id: Types.ObjectId };
export type EscalationPolicyDoc = InferSchemaType<typeof policySchema> & { _id: Types.ObjectId };
export type NotificationDoc = InferSchemaType<typeof notificationSchema> & { _id: Types.ObjectId };

export interface AlertModels {
  Alert: Model<AlertDoc>;
  EscalationPolicy: Model<EscalationPolicyDoc>;
  Notification: Model<NotificationDoc>;
}

export function alertModels(connection: Connection): AlertModels {
  return {
    Alert: connection.model<AlertDoc>('Alert', alertSchema),
    EscalationPolicy: connection.model<EscalationPolicyDoc>('EscalationPolicy', policySchema, 'escalation_policies'),
    Notification: connection.model<NotificationDoc>('AlertNotification', notificationSchema, 'alert_notifications'),
  };
}
