import { shownEndpoint } from './delivery.js';
import type { AlertDoc, NotificationDoc } from './models.js';

const iso = (date: Date | null | undefined): string | null => (date ? new Date(date).toISOString() : null);
const action = (value: AlertDoc['acknowledged']) => (value ? { by: value.by ?? null, at: iso(value.at), note: value.note ?? null, auto: Boolean(value.auto) } : null);

/** One re-activation: when, when the cause happened again, the acknowledgement it lifted, the occurrence's details. */
const reactivationView = (entry: AlertDoc['reactivations'][number]) => ({
  at: iso(entry.at),
  occurredAt: iso(entry.occurredAt),
  acknowledged: action(entry.acknowledged),
  details: (entry.details ?? {}) as Record<string, unknown>,
});

export function toAlertView(alert: AlertDoc) {
  return {
    id: String(alert._id),
    organisationId: String(alert.organisationId),
    patientId: alert.patientId ? String(alert.patientId) : null,
    deviceId: alert.deviceId ?? null,
    type: alert.type,
    severity: alert.severity,
    cause: alert.cause,
    status: alert.status,
    raisedAt: iso(alert.raisedAt),
    acknowledged: action(alert.acknowledged),
    resolved: action(alert.resolved),
    tier: alert.tier,
    tierCount: alert.policy?.tiers?.length ?? 0,
    nextEscalationAt: iso(alert.nextEscalationAt),
    details: (alert.details ?? {}) as Record<string, unknown>,
    reactivations: (alert.reactivations ?? []).map(reactivationView),
    follows: alert.follows ? String(alert.follows) : null,
    updatedAt: iso((alert as { updatedAt?: Date }).updatedAt),
  };
}
export type AlertView = ReturnType<typeof toAlertView>;

/**
 * Who reads the log: staff see every recipient and each endpoint as its origin and fingerprint; a
 * caregiver or patient sees which notifications were theirs, not who else was told nor where.
 */
export interface NotificationViewer {
  userId: string;
  staff: boolean;
}

export function toNotificationView(doc: NotificationDoc, viewer: NotificationViewer) {
  const userId = doc.userId ? String(doc.userId) : null;
  return {
    id: String(doc._id),
    alertId: String(doc.alertId),
    tier: doc.tier,
    event: doc.event,
    channel: doc.channel,
    userId: viewer.staff || userId === viewer.userId ? userId : null,
    endpoint: viewer.staff ? shownEndpoint(doc.endpoint) : null,
    status: doc.status,
    reason: doc.reason ?? null,
    createdAt: iso(doc.createdAt),
    completedAt: iso(doc.completedAt),
    attempts: (doc.attempts ?? []).map((a) => ({ attempt: a.attempt, at: iso(a.at), ok: a.ok, statusCode: a.statusCode ?? null, error: a.error ?? null, durationMs: a.durationMs ?? null })),
  };
}

/** "Alice Martin" → "A. M." — all an outside message may say about who. */
export function initialsOf(name: string | null | undefined): string | null {
  if (!name) return null;
  const initials = name.trim().split(/\s+/).filter(Boolean).slice(0, 3).map((part) => `${[...part][0]?.toUpperCase() ?? ''}.`);
  return initials.length ? initials.join(' ') : null;
}
