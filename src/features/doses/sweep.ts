/**
 * The per-minute sweep (`doses.sweep`): the clock's side of the dose lifecycle — scheduled → due,
 * late (dose.late), and missed or unknown at the window's end (dose.missed) — with the evidence a
 * miss needs (evidence.ts), and its alerts raised in one batch.
 */
import type { QueryFilter } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi } from '../alerts/contract.js';
import type { DeviceDoc } from '../devices/models.js';
import type { Devices } from '../devices/index.js';
import { evidenceOf, fleetOf } from './evidence.js';
import { lateAt, type LateAlerts } from './late-alerts.js';
import type { MissedAlerts } from './missed-alerts.js';
import { minuteOf, type DoseModels, type DoseState } from './models.js';
import { HOUR, type Occurrence } from './shared.js';
import type { Transitions } from './transitions.js';

/** The sweep covers the minute buckets since its last run (plus an overlap); pauses longer than the lookback are caught up by one range query. */
export const SWEEP_LOOKBACK_MINUTES = 24 * 60;
const SWEEP_OVERLAP_MINUTES = 5;

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  Device: Devices['models']['Device'];
  alerts: AlertsApi;
  lateAlerts: LateAlerts;
  emit: Transitions['emit'];
  missedAlert: MissedAlerts['missedAlert'];
  resolveMissedReportedMeanwhile: MissedAlerts['resolveMissedReportedMeanwhile'];
  clock: Clock;
  log: Logger;
}

export function createSweep({ Occurrence, Device, alerts, lateAlerts, emit, missedAlert, resolveMissedReportedMeanwhile, clock, log }: Deps) {
  /**
   * Every minute: scheduled → due at dueAt; due (or scheduled) → missed at
   * dueAt + missedAfter when a device of the patient was online across the due
   * time, else → unknown. The sweep looks only at the minutes it covers (those
   * since its last run, a few more for safety), by equality on indexed
   * (state, dueMinute) / (state, missedMinute) — so neither MongoDB nor the
   * embedded store (whose indexes answer equality only) scans every
   * occurrence. The first sweep of a process, or one after a pause longer than
   * SWEEP_LOOKBACK_MINUTES, catches up once with a range query on (state, missedAt).
   */
  let lastSweptMinute: number | null = null;
  type SweepCounts = { due: number; late: number; missed: number; unknown: number };

  function recentMinutes(nowMinute: number): number[] | null {
    if (lastSweptMinute === null || nowMinute - lastSweptMinute > SWEEP_LOOKBACK_MINUTES || nowMinute < lastSweptMinute) return null;
    // From a little before the last sweep (an occurrence written while it ran) up to now.
    const first = lastSweptMinute - SWEEP_OVERLAP_MINUTES;
    return Array.from({ length: nowMinute - first + 1 }, (_, i) => first + i);
  }

  async function sweep(): Promise<SweepCounts> {
    const now = clock.now();
    const nowMinute = minuteOf(now);
    const minutes = recentMinutes(nowMinute);
    const open: DoseState[] = ['scheduled', 'due'];
    const dueFilter: QueryFilter<Occurrence> = minutes ? { state: 'scheduled', dueMinute: { $in: minutes } } : { state: 'scheduled', dueAt: { $lte: now } };
    const closingFilter: QueryFilter<Occurrence> = minutes ? { state: { $in: open }, missedMinute: { $in: minutes } } : { state: { $in: open }, missedAt: { $lte: now } };
    const lateFilter: QueryFilter<Occurrence> = minutes ? { state: { $in: open }, lateMinute: { $in: minutes }, lateAlertedAt: null } : { state: { $in: open }, lateAlertedAt: null, dueAt: { $lte: now }, missedAt: { $gt: now } };
    if (!minutes) await fillLateMinutes();

    const becameDue = (await Occurrence.find(dueFilter).lean<Occurrence[]>()).filter((o) => o.dueAt <= now && o.missedAt > now);
    let due = 0;
    if (becameDue.length) {
      // The same filter as the read (no list of ids): the buckets answer it from the index.
      due = (await Occurrence.updateMany({ ...dueFilter, dueAt: { $lte: now }, missedAt: { $gt: now } }, { $set: { state: 'due', changedAt: now } })).modifiedCount;
      for (const o of await movedToDue(becameDue, due, now)) emit({ ...o, state: 'due', changedAt: now });
    }

    const closing = (await Occurrence.find(closingFilter).lean<Occurrence[]>()).filter((o) => o.missedAt <= now);
    // Late but not closing: a dose whose window closes now is missed (or unknown), not late.
    const late = (await Occurrence.find(lateFilter).lean<Occurrence[]>()).filter((o) => lateAt(o) <= now.getTime() && o.missedAt > now);
    const fleet = closing.length || late.length ? await fleetOf(Device, [...closing, ...late].map((o) => String(o.patientId))) : new Map<string, DeviceDoc[]>();
    const evidence = (o: Occurrence) => evidenceOf(o, fleet.get(String(o.patientId)) ?? [], now);
    const closed = closing.length ? await close(closing, evidence, now) : { missed: 0, unknown: 0, missedNow: [], unknownNow: [] };
    const lateNow = late.filter((o) => evidence(o) !== null);
    // One raiseMany for the sweep, missed and late together (its recipients' lookup then runs once).
    if (await raiseSweepAlerts(closed.missedNow, lateNow)) {
      await lateAlerts.markRaised(lateNow);
      await resolveMissedReportedMeanwhile(closed.missedNow);
    }
    // dose.missed takes over from dose.late (raised first, so a caregiver never sees neither open).
    await lateAlerts.resolve(closed.missedNow, 'missed');
    await lateAlerts.resolve(closed.unknownNow, 'unknown: every device offline');

    // Missed doses whose alert could not be raised before (alerts were failing) are retried.
    // The day's bound is in the query: filtered after a limited read, 500 older ones would crowd out every recent one for good.
    const unalerted = await Occurrence.find({ state: 'missed', alertedAt: null, missedAt: { $gt: new Date(now.getTime() - 24 * HOUR) } }).limit(500).lean<Occurrence[]>();
    const retry = unalerted.filter((o) => o.changedAt && o.changedAt < now);
    if (retry.length) await retryUnalerted(retry);
    lastSweptMinute = nowMinute;
    return { due, late: lateNow.length, missed: closed.missed, unknown: closed.unknown };
  }

  /**
   * The doses read as becoming due that the write made due. One taken, skipped or cancelled between
   * the read and the write was not: telling the care team it is due, after they heard it was taken,
   * would be false. When the write changed as many as were read (nearly always) they are the same
   * doses, unless in that same moment one left the swept minutes and another entered them (a plan
   * replaced as its dose falls due): not worth a second read of up to every patient's dose on each
   * sweep (a write by the ids read, to make it exact, cost 150–240 ms with 10,000 doses due).
   * Otherwise the doses the write moved are read again.
   */
  async function movedToDue(read: Occurrence[], moved: number, now: Date): Promise<Occurrence[]> {
    if (moved === read.length) return read;
    if (moved === 0) return [];
    return Occurrence.find({ _id: { $in: read.map((o) => o._id) }, state: 'due', changedAt: now }).lean<Occurrence[]>();
  }

  /** Occurrences generated before lateMinute existed get it (once per process, with the catch-up sweep). */
  async function fillLateMinutes(): Promise<void> {
    await Occurrence.updateMany({ state: { $in: ['scheduled', 'due'] }, lateMinute: null }, [{ $set: { lateMinute: { $add: ['$dueMinute', '$window.lateAfterMinutes'] } } }], { updatePipeline: true });
  }

  /**
   * Closing doses → missed (with evidence) or unknown. Answers the counts and the doses this sweep
   * made missed (their alerts claimed by the same write: alertedAt) or unknown.
   */
  async function close(closing: Occurrence[], evidence: (o: Occurrence) => ReturnType<typeof evidenceOf>, now: Date): Promise<{ missed: number; unknown: number; missedNow: Occurrence[]; unknownNow: Occurrence[] }> {
    const open: DoseState[] = ['scheduled', 'due'];
    const watchedMissed: Occurrence[] = [];
    const notConfirmed: Occurrence[] = [];
    const toUnknown: Occurrence[] = [];
    for (const o of closing) {
      const found = evidence(o);
      if (found === 'not_confirmed') notConfirmed.push(o);
      else if (found === 'device_online_no_event') watchedMissed.push(o);
      else toUnknown.push(o);
    }
    let missed = 0;
    let unknown = 0;
    // The exceptions (usually few) first, then the rest. All by id: a dose written into these minutes
    // since the read (a plan changed meanwhile) has had no evidence checked, and one marked missed
    // here would be claimed as alerted without its alert being raised.
    if (toUnknown.length) {
      unknown = (await Occurrence.updateMany({ _id: { $in: toUnknown.map((o) => o._id) }, state: { $in: open } }, { $set: { state: 'unknown', source: 'clock', evidence: 'device_offline', changedAt: now } })).modifiedCount;
      for (const o of toUnknown) emit({ ...o, state: 'unknown', source: 'clock', evidence: 'device_offline', changedAt: now });
    }
    if (notConfirmed.length) {
      missed += (await Occurrence.updateMany({ _id: { $in: notConfirmed.map((o) => o._id) }, state: { $in: open } }, { $set: { state: 'missed', source: 'clock', evidence: 'not_confirmed', changedAt: now, alertedAt: now } })).modifiedCount;
    }
    if (watchedMissed.length) {
      missed += (await Occurrence.updateMany({ _id: { $in: watchedMissed.map((o) => o._id) }, state: { $in: open } }, { $set: { state: 'missed', source: 'clock', evidence: 'device_online_no_event', changedAt: now, alertedAt: now } })).modifiedCount;
    }
    let updated = [...notConfirmed.map((o) => ({ ...o, evidence: 'not_confirmed' })), ...watchedMissed.map((o) => ({ ...o, evidence: 'device_online_no_event' }))].map((o) => ({ ...o, state: 'missed' as const, source: 'clock', changedAt: now }));
    if (missed !== updated.length) {
      // A device event or a confirmation won a race with this sweep: alert only what this sweep really moved.
      const moved = new Set((await Occurrence.find({ _id: { $in: updated.map((o) => o._id) }, state: 'missed', changedAt: now }, { _id: 1 }).lean()).map((o) => String(o._id)));
      updated = updated.filter((o) => moved.has(String(o._id)));
    }
    for (const o of updated) emit(o);
    return { missed, unknown, missedNow: updated, unknownNow: toUnknown };
  }

  /**
   * Missed doses whose alert could not be raised before (alerts were failing): raised with one
   * raiseMany, then marked alerted in one write. Those raised before the failure are answered by
   * their open alert, so raising again is harmless.
   */
  async function retryUnalerted(occurrences: Occurrence[]): Promise<void> {
    try {
      await alerts.raiseMany(occurrences.map(missedAlert));
    } catch (error) {
      log.error({ err: error, occurrences: occurrences.length }, 'could not raise dose.missed');
      return;
    }
    await Occurrence.updateMany({ _id: { $in: occurrences.map((o) => o._id) } }, { $set: { alertedAt: clock.now() } });
  }

  /**
   * The sweep's alerts in one raiseMany: dose.missed of the doses it made missed (already claimed by
   * the state write, alertedAt, so a second instance never raises them twice) and dose.late of those
   * it found late. On failure the claims are released for a retry (dose.late is not retried).
   */
  async function raiseSweepAlerts(missed: Occurrence[], late: Occurrence[]): Promise<boolean> {
    if (!missed.length && !late.length) return true;
    try {
      await alerts.raiseMany([...missed.map(missedAlert), ...late.map(lateAlerts.alertOf)]);
      return true;
    } catch (error) {
      log.error({ err: error, missed: missed.length, late: late.length }, 'could not raise the sweep’s alerts');
      if (missed.length) await Occurrence.updateMany({ _id: { $in: missed.map((o) => o._id) } }, { $set: { alertedAt: null } });
      return false;
    }
  }

  return { sweep };
}
