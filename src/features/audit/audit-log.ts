/**
 * The audit log: an append-only record of who read or changed patient data,
 * and of every denied attempt — ids and outcome, never the data itself.
 * Nothing in the hub updates or deletes an entry.
 */
import { Schema, Types, type Connection, type InferSchemaType, type Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';

export const AUDIT_OUTCOMES = ['allowed', 'denied', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

const auditSchema = new Schema(
  {
    at: { type: Date, required: true },
    organisationId: { type: Schema.Types.ObjectId, default: null, index: true },
    actor: {
      type: { type: String, enum: ['user', 'device', 'system', 'anonymous'], required: true },
      id: { type: String, default: null },
      role: { type: String, default: null },
    },
    action: { type: String, required: true },
    objectType: { type: String, required: true },
    objectId: { type: String, default: null },
    outcome: { type: String, enum: AUDIT_OUTCOMES, required: true },
    via: { type: String, enum: ['http', 'socket', 'mqtt', 'job', 'cli'], required: true },
    ip: { type: String, default: null },
    requestId: { type: String, default: null },
    /** The fields a change set, by name — never their values (a role change names the role: `role=admin`). Absent on reads. */
    fields: { type: [String], default: undefined },
  },
  { versionKey: false },
);
auditSchema.index({ organisationId: 1, objectType: 1, objectId: 1 });

export type AuditDoc = InferSchemaType<typeof auditSchema> & { _id: Types.ObjectId };

export interface AuditEvent {
  organisationId: string | null;
  actor: { type: 'user' | 'device' | 'system' | 'anonymous'; id?: string | null; role?: string | null };
  action: string;
  objectType: string;
  objectId?: string | null;
  outcome: AuditOutcome;
  via: 'http' | 'socket' | 'mqtt' | 'job' | 'cli';
  ip?: string | null;
  requestId?: string | null;
  fields?: string[];
}

export interface AuditLog {
  readonly model: Model<AuditDoc>;
  /** Appends an entry. Failures are logged, never thrown at the caller: the action already happened. */
  record(event: AuditEvent): Promise<void>;
}

export function createAuditLog(connection: Connection, clock: Clock, logger: Logger): AuditLog {
  const model = connection.model<AuditDoc>('AuditEntry', auditSchema, 'audit_log');
  return {
    model,
    async record(event) {
      try {
        await model.create({
          ...event,
          at: clock.now(),
          organisationId: event.organisationId && Types.ObjectId.isValid(event.organisationId) ? new Types.ObjectId(event.organisationId) : null,
        });
      } catch (error) {
        logger.error({ err: error, action: event.action, objectType: event.objectType }, 'audit entry could not be written');
      }
    },
  };
}

export function toAuditView(doc: AuditDoc) {
  return {
    id: String(doc._id),
    at: doc.at.toISOString(),
    organisationId: doc.organisationId ? String(doc.organisationId) : null,
    actor: { type: doc.actor?.type ?? 'system', id: doc.actor?.id ?? null, role: doc.actor?.role ?? null },
    action: doc.action,
    objectType: doc.objectType,
    objectId: doc.objectId ?? null,
    outcome: doc.outcome,
    via: doc.via,
    ip: doc.ip ?? null,
    requestId: doc.requestId ?? null,
    ...(doc.fields?.length ? { fields: [...doc.fields] } : {}),
  };
}
