/**
 * A new occurrence of a cause whose alert is acknowledged but not resolved.
 * For most causes a repeat adds nothing (a heartbeat still below 20 %, a
 * refill.low resent): the alert stays acknowledged. But a second press of the
 * help button, or a dispenser jamming again, is a new incident: the person who
 * said "on my way" may not have arrived, or the patient is still waiting. Such
 * an alert is re-activated — active again, the lifted acknowledgement kept in
 * its `reactivations`, its starting tiers told again (`alert.reactivated`),
 * with whoever acknowledged it if they may still read it (readers.ts; when
 * quiet hours hold the notice back, when they end: service.ts), and escalation
 * restarted from its starting tier. A repeat while it is active is deduplicated as ever, so a patient
 * pressing five times in a minute pages once per acknowledgement.
 *
 * The same event never counts twice: a device event's effects may run again (a
 * resend after a lost ack, the devices feature's recovery sweep), so the alert
 * remembers the eventId that raised it, those that re-activated it, and those
 * of the repeats it absorbed (`absorbedEventIds`, the latest few, kept only for
 * these types: other alerts, the doses sweep's thousands included, pay nothing).
 * An old press run again after someone acknowledged is not a new incident.
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
import { asTold, owesFirstNotice, tellOwed, type Owing } from './first-notice.js';
import type { AlertDoc } from './models.js';
import type { AlertNotify } from './notify.js';

/** Types whose every occurrence is an incident of its own (each a device event a person caused or must fix). */
export const REACTIVATING_TYPES: ReadonlySet<AlertType> = new Set<AlertType>(['help.requested', 'device.jam']);

/** Two instances running the same acknowledged alert's repeat, or acknowledgements racing it, are retried this often before answering with the alert as it is. */
const MAX_ATTEMPTS = 3;

/**
 * How many eventIds of absorbed repeats an alert keeps, the latest: an event's effects run again
 * within a minute or so (a resend, the recovery sweep), and a patient pressing over and over while
 * help is on its way should not grow the alert without end.
 */
export const MAX_ABSORBED = 50;

/** The device event behind an occurrence, when the raiser gave one. */
const eventIdOf = (details: unknown): unknown => (details as { eventId?: unknown } | null | undefined)?.eventId ?? null;

/**
 * Not an occurrence the alert has already seen: the one that raised it, one that re-activated it, or a
 * repeat it absorbed while active (an event whose effects run twice, e.g. resent by its device).
 */
function isNewOccurrence(input: RaiseAlert, alert: AlertDoc): boolean {
  const eventId = eventIdOf(input.details);
  if (eventId === null) return true;
  if (typeof eventId === 'string' && alert.absorbedEventIds?.includes(eventId)) return false;
  return ![alert.details, ...(alert.reactivations ?? []).map((r) => r.details)].some((details) => eventIdOf(details) === eventId);
}

/** Whoever acknowledged the alert before its latest re-activation, or null. */
export function lastAcknowledger(alert: Pick<AlertDoc, 'reactivations'>): string | null {
  const reactivations = alert.reactivations ?? [];
  return reactivations[reactivations.length - 1]?.acknowledged?.by ?? null;
}

/**
 * Records the eventIds of the repeats of re-activating causes that `open` (each cause's open alert, as
 * raising leaves it) absorbed without counting them: deduplicated while active, beaten to the
 * re-activation by another occurrence, or repeated within the batch. Nothing for other types, and
 * nothing for an occurrence the alert already carries. One update per alert concerned.
 */
export async function absorbRepeats(Alert: Model<AlertDoc>, inputs: RaiseAlert[], open: Map<string, AlertDoc>): Promise<void> {
  const absorbed = new Map<string, { alert: AlertDoc; eventIds: Set<string> }>();
  for (const input of inputs) {
    if (!REACTIVATING_TYPES.has(input.type)) continue;
    const eventId = eventIdOf(input.details);
    const alert = open.get(input.cause);
    if (typeof eventId !== 'string' || !alert || !isNewOccurrence(input, alert)) continue;
    const entry = absorbed.get(String(alert._id)) ?? { alert, eventIds: new Set<string>() };
    entry.eventIds.add(eventId);
    absorbed.set(String(alert._id), entry);
  }
  await Promise.all(
    [...absorbed.values()].map(({ alert, eventIds }) =>
      Alert.updateOne(
        // $nin: not again when a concurrent run of the same event recorded it first.
        { _id: alert._id, open: true, absorbedEventIds: { $nin: [...eventIds] } },
        { $push: { absorbedEventIds: { $each: [...eventIds], $slice: -MAX_ABSORBED } } },
        { timestamps: false },
      ),
    ),
  );
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
  /** Ids of alerts whose first notice this process is telling (first-notice.ts): the escalation tick leaves them alone meanwhile. */
  firstNoticesInFlight: Set<string>;
  clock: Clock;
  logger: Logger;
}

export function createReactivation({ Alert, notify, publish, firstNoticesInFlight, clock, logger }: Deps) {
  /** The guarded move back to active, from the acknowledgement as read; null when someone else changed the alert first. */
  async function reactivateOnce(input: RaiseAlert, alert: AlertDoc): Promise<(Owing & { skip?: 'quiet_hours' }) | null> {
    const now = clock.now();
    const lifted = alert.acknowledged as NonNullable<AlertDoc['acknowledged']>;
    const tier = startingTier(input, alert.policy);
    const { notifiedTier, nextEscalationAt, skip } = escalationStart(alert, tier, now);
    // Told now: stored owing that notice until it is recorded (first-notice.ts).
    const { stored, told } = owesFirstNotice({ notifiedTier, nextEscalationAt }, skip === undefined && alert.policy.tiers.length > 0, now);
    const reactivation = { at: now, occurredAt: input.at ?? now, acknowledged: lifted, details: input.details ?? {} };
    const won = await Alert.findOneAndUpdate(
      { _id: alert._id, status: 'acknowledged', 'acknowledged.at': lifted.at },
      { $set: { status: 'active', acknowledged: null, tier, ...stored }, $push: { reactivations: reactivation } },
      { returnDocument: 'after' },
    ).lean<AlertDoc>();
    return won ? { doc: won, skip, ...(told ? { told } : {}) } : null;
  }

  /**
   * Live news first, then the starting tiers (and whoever acknowledged) told again, or recorded as
   * suppressed during quiet hours. A notice that cannot be recorded is left to the escalation tick.
   */
  async function announce(owing: Owing, acknowledgedBy: string | null | undefined, skip?: 'quiet_hours'): Promise<void> {
    const alert = asTold(owing);
    const id = String(alert._id);
    logger.info({ alertId: id, type: alert.type, reactivations: alert.reactivations?.length ?? 0 }, 'alert reactivated');
    publish(alert);
    const notice = { alert, tiers: range(0, alert.tier), event: 'alert.reactivated' as const, skip, alsoTell: acknowledgedBy ? [acknowledgedBy] : [] };
    await tellOwed({ Alert, inFlight: firstNoticesInFlight, clock, logger }, [owing], 'the starting tiers of a re-activated alert', () => notify.tiers([notice]));
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
        await announce(won, current.acknowledged?.by, won.skip);
        return asTold(won);
      }
      current = await Alert.findById(alert._id).lean<AlertDoc>();
    }
    return current?.open ? current : null;
  }

  return { reactivate };
}

export type Reactivation = ReturnType<typeof createReactivation>;
