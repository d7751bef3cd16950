/**
 * `dose.missed`: the alert of a dose nobody reported by the end of its window (or that a device
 * reported missed), raised once — `alertedAt` claims it — and resolved when a report raced it.
 */
import type { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi, RaiseAlert } from '../alerts/contract.js';
import type { DoseModels } from './models.js';
import { doseAlertFields, type Occurrence } from './shared.js';

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  alerts: AlertsApi;
  clock: Clock;
  log: Logger;
}

/** The cause of a dose's dose.missed alert (one open alert per dose). */
export const missedCause = (occurrenceId: Types.ObjectId | string): string => `dose.missed:${String(occurrenceId)}`;

export function createMissedAlerts({ Occurrence, alerts, clock, log }: Deps) {
  /** The dose.missed alert of an occurrence: critical medications start one tier up. Ids only in details. */
  function missedAlert(occurrence: Occurrence): RaiseAlert {
    return {
      ...doseAlertFields(occurrence),
      type: 'dose.missed',
      cause: missedCause(occurrence._id),
      severity: occurrence.critical ? 'critical' : 'warning',
      ...(occurrence.critical ? { startTier: 1 } : {}),
      at: clock.now(),
    };
  }

  async function raiseMissed(occurrence: Occurrence): Promise<void> {
    try {
      await alerts.raise(missedAlert(occurrence));
      await Occurrence.updateOne({ _id: occurrence._id }, { $set: { alertedAt: clock.now() } });
    } catch (error) {
      // The occurrence is already missed; a later sweep raises the alert again (alertedAt still null).
      log.error({ err: error, occurrenceId: String(occurrence._id) }, 'could not raise dose.missed');
      return;
    }
    await resolveMissedReportedMeanwhile([occurrence]);
  }

  /**
   * dose.missed alerts raised for doses that were taken, confirmed or skipped while the alert was
   * being raised (after the write that made them missed): that report found no alert to resolve,
   * so it is resolved now.
   */
  async function resolveMissedReportedMeanwhile(missed: Occurrence[]): Promise<void> {
    if (!missed.length) return;
    const moved = await Occurrence.find({ _id: { $in: missed.map((o) => o._id) }, state: { $ne: 'missed' } }, { _id: 1 }).lean();
    if (!moved.length) return;
    await alerts.resolveCauses(moved.map((o) => missedCause(o._id)), 'dose reported meanwhile').catch((error: unknown) => log.error({ err: error, alerts: moved.length }, 'could not resolve dose.missed'));
  }

  return { missedAlert, raiseMissed, resolveMissedReportedMeanwhile };
}

export type MissedAlerts = ReturnType<typeof createMissedAlerts>;
