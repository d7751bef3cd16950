/**
 * `dose.late` (severity info): a dose past its on-time window (dueAt +
 * lateAfterMinutes) that nobody reported, while it may still be taken. The
 * sweep raises every such dose's alert at once, in the same raiseMany as its
 * dose.missed alerts, and only with the evidence a miss needs (evidence.ts).
 * It is resolved when the dose is taken, confirmed or skipped, and when it
 * becomes missed (the dose.missed alert takes over) or unknown.
 * `lateAlertedAt` marks the doses whose alert was raised: only those are
 * resolved, and a sweep's overlapping minutes never raise one again after a
 * person resolved it.
 */
import type { Model, Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi, RaiseAlert } from '../alerts/contract.js';
import type { DoseState, OccurrenceDoc } from './models.js';
import { doseAlertFields, MINUTE } from './shared.js';

const PENDING: readonly DoseState[] = ['scheduled', 'due'];

export const lateCause = (occurrenceId: Types.ObjectId | string): string => `dose.late:${String(occurrenceId)}`;

/** When the dose stops being on time. */
export const lateAt = (o: Pick<OccurrenceDoc, 'dueAt' | 'window'>): number => o.dueAt.getTime() + o.window.lateAfterMinutes * MINUTE;

interface Deps {
  Occurrence: Model<OccurrenceDoc>;
  alerts: AlertsApi;
  clock: Clock;
  log: Logger;
}

export function createLateAlerts({ Occurrence, alerts, clock, log }: Deps) {
  function lateAlert(o: OccurrenceDoc): RaiseAlert {
    return {
      ...doseAlertFields(o),
      type: 'dose.late',
      cause: lateCause(o._id),
      severity: 'info',
      at: clock.now(),
    };
  }

  /** Resolves the dose.late alerts of these doses (those that had one). A failure is logged: the alert then waits for a person. */
  async function resolve(occurrences: Pick<OccurrenceDoc, '_id' | 'lateAlertedAt'>[], note: string): Promise<void> {
    const causes = occurrences.filter((o) => o.lateAlertedAt).map((o) => lateCause(o._id));
    if (!causes.length) return;
    await alerts.resolveCauses(causes, note).catch((error: unknown) => log.error({ err: error, alerts: causes.length }, 'could not resolve dose.late'));
  }

  /**
   * Marks doses whose dose.late was raised. Those taken meanwhile (between the sweep's read and this
   * mark, when recordTaken could not yet see the mark) have their new alert resolved at once.
   */
  async function markRaised(late: OccurrenceDoc[]): Promise<void> {
    if (!late.length) return;
    const ids = late.map((o) => o._id);
    const now = clock.now();
    // By _id alone (the embedded store answers it from its _id map without re-testing the list).
    await Occurrence.updateMany({ _id: { $in: ids } }, { $set: { lateAlertedAt: now } });
    const settled = (await Occurrence.find({ _id: { $in: ids } }, { state: 1 }).lean()).filter((o) => !PENDING.includes(o.state as DoseState));
    await resolve(
      settled.map((o) => ({ _id: o._id, lateAlertedAt: now })),
      'dose reported meanwhile',
    );
  }

  return { alertOf: lateAlert, markRaised, resolve };
}

export type LateAlerts = ReturnType<typeof createLateAlerts>;
