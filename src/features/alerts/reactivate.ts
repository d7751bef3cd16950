/**
 * A new occurrence of a cause whose alert is acknowledged but not resolved.
 * For most causes a repeat adds nothing (a heartbeat still below 20 %, a
 * refill.low resent): the alert stays acknowledged. But a second press of the
 * help button, or a dispenser jamming again, is a new incident: the person who
 * said "on my way" may not have arrived, or the patient is still waiting. Such
 * an alert is re-activated — active again, the lifted acknowledgement kept in
 * its `reactivations`, its starting tiers told again (`alert.reactivated`),
 * with whoever acknowledged it, and escalation restarted from its starting
 * tier. A repeat while it is active is deduplicated as ever, so a patient
 * pressing five times in a minute pages once per acknowledgement.
 *
 * The move is one guarded update on {_id, status: 'acknowledged', the
 * acknowledgement read}: of two instances (or two presses) only the winner
 * notifies; the other answers with the alert, active again.
 */
import type { Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { AlertType, RaiseAlert } from './contract.js';
import { escalationStart, range, startingTier } from './escalation-times.js';
import type { AlertDoc } from './models.js';
import type { AlertNotify } from './notify.js';

/** Types whose every occurrence is an incident of its own (each a device event a person caused or must fix). */
export const REACTIVATING_TYPES: ReadonlySet<AlertType> = new Set<AlertType>(['help.requested', 'device.jam']);

/** Two instances running the same acknowledged alert's repeat, or acknowledgements racing it, are retried this often before answering with the alert as it is. */
const MAX_ATTEMPTS = 3;

/** The device event behind an occurrence, when the raiser gave one. */
const eventIdOf = (details: unknown): unknown => (details as { eventId?: unknown } | null | undefined)?.eventId ?? null;

/** Not the occurrence that raised or already re-activated the alert (an event whose effects run twice, e.g. resent by its device). */
function isNewOccurrence(input: RaiseAlert, alert: AlertDoc): boolean {
  const eventId = eventIdOf(input.details);
  if (eventId === null) return true;
  return ![alert.details, ...(alert.reactivations ?? []).map((r) => r.details)].some((details) => eventIdOf(details) === eventId);
}

/** Whether raising `input` re-activates `alert`, the open alert of its cause. */
export function reactivates(input: RaiseAlert, alert: AlertDoc): boolean {
  return alert.status === 'acknowledged' && REACTIVATING_TYPES.has(alert.type) && isNewOccurrence(input, alert);
}

interface Deps {
  Alert: Model<AlertDoc>;
  notify: AlertNotify;
  /** `alert:updated`: the same alert, active again. */
  publish: (alert: AlertDoc) => void;
  clock: Clock;
  logger: Logger;
}

export function createReactivation({ Alert, notify, publish, clock, logger }: Deps) {
  /** The guarded move back to active, from the acknowledgement as read; null when someone else changed the alert first. */
  async function reactivateOnce(input: RaiseAlert, alert: AlertDoc): Promise<{ alert: AlertDoc; skip?: 'quiet_hours' } | null> {
    const now = clock.now();
    const lifted = alert.acknowledged as NonNullable<AlertDoc['acknowledged']>;
    const tier = startingTier(input, alert.policy);
    const { notifiedTier, nextEscalationAt, skip } = escalationStart(alert, tier, now);
    const reactivation = { at: now, occurredAt: input.at ?? now, acknowledged: lifted, details: input.details ?? {} };
    const won = await Alert.findOneAndUpdate(
      { _id: alert._id, status: 'acknowledged', 'acknowledged.at': lifted.at },
      { $set: { status: 'active', acknowledged: null, tier, notifiedTier, nextEscalationAt }, $push: { reactivations: reactivation } },
      { returnDocument: 'after' },
    ).lean<AlertDoc>();
    return won ? { alert: won, skip } : null;
  }

  /** Live news first, then the starting tiers (and whoever acknowledged) told again, or recorded as suppressed during quiet hours. */
  async function announce(alert: AlertDoc, acknowledgedBy: string | null | undefined, skip?: 'quiet_hours'): Promise<void> {
    logger.info({ alertId: String(alert._id), type: alert.type, reactivations: alert.reactivations?.length ?? 0 }, 'alert reactivated');
    publish(alert);
    await notify.tiers([{ alert, tiers: range(0, alert.tier), event: 'alert.reactivated', skip, alsoTell: acknowledgedBy ? [acknowledgedBy] : [] }]);
  }

  /**
   * Re-activates `alert` for this new occurrence of its cause. Answers the alert as it now is: active
   * again (by this call or a concurrent one), still acknowledged when the occurrence was one already
   * seen, or null when it was resolved meanwhile (the cause is then free to open a new alert).
   */
  async function reactivate(input: RaiseAlert, alert: AlertDoc): Promise<AlertDoc | null> {
    let current: AlertDoc | null = alert;
    for (let attempt = 0; attempt < MAX_ATTEMPTS && current && reactivates(input, current); attempt += 1) {
      const won = await reactivateOnce(input, current);
      if (won) {
        await announce(won.alert, current.acknowledged?.by, won.skip);
        return won.alert;
      }
      current = await Alert.findById(alert._id).lean<AlertDoc>();
    }
    return current?.open ? current : null;
  }

  return { reactivate };
}

export type Reactivation = ReturnType<typeof createReactivation>;
