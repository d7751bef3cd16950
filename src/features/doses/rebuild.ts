/**
 * Rebuilding a patient's doses after their plan or their time zone changed: the pairing rule is
 * replan.ts (pure); this reads the doses, writes what it decides, and publishes the schedule —
 * one patient at a time on this instance, guarded by the plan's version and zone across instances.
 */
import type { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { PatientDoc } from '../identity/models.js';
import { oneAtATime } from '../one-at-a-time.js';
import { expandItems, type ExpandedDose } from './expand.js';
import type { LateAlerts } from './late-alerts.js';
import type { DoseModels, PlanDoc } from './models.js';
import type { Occurrences } from './occurrences.js';
import type { PlannedPatients } from './planned-patients.js';
import type { SchedulePublisher } from './publish-schedules.js';
import { replan, UNDER_WAY } from './replan.js';
import { HORIZON_HOURS, HOUR, oid, type Occurrence, type PatientOf } from './shared.js';
import type { Transitions } from './transitions.js';

/** A rebuild looks this far back: the whole local day now, and every dose that can still be under way (docs/DOSES.md). */
const REPLAN_LOOKBACK_HOURS = 48;
/** A rebuild whose plan kept changing under it (other instances) stops after this many passes. */
const MAX_REBUILD_PASSES = 5;

interface Deps {
  Plan: DoseModels['Plan'];
  Occurrence: DoseModels['Occurrence'];
  plannedPatients: PlannedPatients;
  lateAlerts: LateAlerts;
  transition: Transitions['transition'];
  insertDoses: Occurrences['insertDoses'];
  publishSchedules: SchedulePublisher['publishSchedules'];
  patientOf: PatientOf;
  clock: Clock;
  log: Logger;
}

export function createRebuild({ Plan, Occurrence, plannedPatients, lateAlerts, transition, insertDoses, publishSchedules, patientOf, clock, log }: Deps) {
  /**
   * Plan work (a plan change, a time-zone change, the hourly generation) runs one at a time per
   * patient on this instance: the hourly job's generation from a plan it read must not land after
   * a plan change rebuilt the doses (it would re-insert the old plan's). Across instances the
   * plan's version guards it (generateFor's `current`).
   */
  const planWork = oneAtATime();

  /** After a plan change or a time-zone change: the patient's doses rebuilt from their plan and zone as they are now. */
  function replanPatient(patientId: Types.ObjectId): Promise<boolean> {
    return planWork(String(patientId), () => rebuild(patientId));
  }

  /**
   * Future doses nobody acted on are replaced by the current plan's; doses under way that the plan
   * no longer has are cancelled; a day never gets a dose again that it has had (replan.ts). Then
   * the devices get the new schedule. Runs inside planWork (one at a time on this instance).
   *
   * Across instances two rebuilds of one patient may interleave (a PUT here, a time-zone change or
   * an hourly generation there): a pass that read a plan (version, zone) changed before its last
   * write, or whose cancellation found a dose dispensed or decided meanwhile, runs again from what
   * is current — its deletion of the undecided future doses takes back what the stale pass inserted.
   * A dose the stale pass cancelled stays cancelled, even when the current plan keeps it (putting it
   * back raced with the other instance's own rebuild into two doses for one: see docs/DOSES.md).
   *
   * Answers whether it stood: its last pass was current (false when it gave up after
   * MAX_REBUILD_PASSES). Only then are the rebuilds owed by revived doses (`replanOwed`) paid —
   * those read before the first pass, so a dose revived while it ran keeps its debt.
   */
  async function rebuild(patientId: Types.ObjectId): Promise<boolean> {
    // Read before any pass reads the doses: every pass then sees these doses revived.
    const owed = await Occurrence.find({ patientId, replanOwed: true }, { replanOwedBy: 1 }).lean<Occurrence[]>();
    for (let pass = 1; ; pass += 1) {
      const { outcome, patient } = await rebuildOnce(patientId);
      if (!patient) {
        // No plan or no patient any more: nothing to rebuild, nothing owed.
        await settleOwed(owed);
        return true;
      }
      if (outcome === 'stale' && pass < MAX_REBUILD_PASSES) continue;
      if (outcome === 'stale') log.warn({ patientId: String(patientId), passes: pass }, 'the plan kept changing while its doses were rebuilt; the last pass stands');
      await publishSchedules(patient);
      if (outcome === 'current') await settleOwed(owed);
      return outcome === 'current';
    }
  }

  /** The debts of these revived doses are paid, unless a newer revival (another token) owes one since. */
  async function settleOwed(owed: Occurrence[]): Promise<void> {
    if (!owed.length) return;
    // Each dose with the token it was read with (none: matches a debt recorded without one).
    const asRead = owed.map((o) => ({ _id: o._id, replanOwedBy: o.replanOwedBy ?? null }));
    await Occurrence.updateMany({ replanOwed: true, $or: asRead }, { $unset: { replanOwed: 1, replanOwedBy: 1 } });
  }

  /**
   * One pass of rebuild: 'current' when the plan and zone it read were still the plan's at its end
   * and every cancellation it chose went through, else 'stale'; no patient without a plan or patient.
   */
  async function rebuildOnce(patientId: Types.ObjectId): Promise<{ outcome: 'current' | 'stale'; patient: PatientDoc | null }> {
    const [plan, patient] = await Promise.all([Plan.findOne({ patientId }).lean<PlanDoc>(), patientOf(patientId)]);
    if (!plan || !patient) return { outcome: 'current', patient: null };
    const now = clock.now();
    const to = new Date(now.getTime() + HORIZON_HOURS * HOUR);
    // The last 48 h: the whole local day now (it began at most 25 h ago), and every dose that can still be under way with the new plan's doses near it (a window is at most 12 h early and 24 h after).
    const since = new Date(now.getTime() - REPLAN_LOOKBACK_HOURS * HOUR);
    await Occurrence.deleteMany({ patientId, state: 'scheduled', dueAt: { $gte: now }, dispensedAt: null });
    const standing = await Occurrence.find({ patientId, dueAt: { $gte: since }, state: { $ne: 'cancelled' } }).lean<Occurrence[]>();
    const planned = expandItems(plan.schedule, patient.timezone, since, to);
    const { create, cancel } = replan(planned, standing.map((o) => ({ ...o, id: String(o._id) })));
    const allCancelled = await cancelDoses(cancel.map((dose) => oid(dose.id)));
    const fresh = create.filter((dose) => dose.dueAt >= now);
    await clearCancelledKeys(plan, fresh, now);
    await insertDoses(plan, fresh, now);
    // Guarded by what was read: a PUT (version) or a zone change's rebuild (timezone) meanwhile on another instance makes this pass stale.
    const marked = await Plan.updateOne({ _id: plan._id, version: plan.version, timezone: plan.timezone }, { $set: { generatedUntil: to, timezone: patient.timezone } });
    return { outcome: marked.matchedCount > 0 && allCancelled ? 'current' : 'stale', patient };
  }

  /**
   * Doses under way the plan no longer has: cancelled unless something dispensed or decided them
   * meanwhile, their dose.late resolved. Answers whether every one was cancelled (if not, the dose that was not now stands for a dose of its
   * day, and the rebuild runs again).
   */
  async function cancelDoses(ids: Types.ObjectId[]): Promise<boolean> {
    const cancelled: Occurrence[] = [];
    for (const id of ids) {
      const changed = await transition(id, UNDER_WAY, { state: 'cancelled', source: 'plan' }, { dispensedAt: null });
      if (changed) cancelled.push(changed.after);
    }
    await lateAlerts.resolve(cancelled, 'dose cancelled');
    return cancelled.length === ids.length;
  }

  /** A cancelled dose the plan brings back (same item and dueAt) makes way for the new one: the unique key holds one. */
  async function clearCancelledKeys(plan: PlanDoc, doses: ExpandedDose[], now: Date): Promise<void> {
    if (!doses.length) return;
    const keys = new Set(doses.map((d) => `${d.itemId} ${d.dueAt.getTime()}`));
    const cancelled = await Occurrence.find({ patientId: plan.patientId, dueAt: { $gte: now }, state: 'cancelled' }, { itemId: 1, dueAt: 1 }).lean<Occurrence[]>();
    const colliding = cancelled.filter((o) => keys.has(`${o.itemId} ${o.dueAt.getTime()}`)).map((o) => o._id);
    if (colliding.length) await Occurrence.deleteMany({ _id: { $in: colliding }, state: 'cancelled' });
  }

  /** A patient's time zone changed (identity tells): their doses follow it, and their devices get the new zone. */
  async function followTimezone(patientId: string): Promise<void> {
    try {
      if (await plannedPatients.has(patientId)) await replanPatient(oid(patientId));
    } catch (error) {
      // The hourly generation finds the plan's zone behind the patient's and rebuilds it then.
      log.error({ err: error, patientId }, 'could not move the doses to the patient’s new time zone; the hourly job will');
    }
  }

  return { planWork, replanPatient, rebuild, followTimezone };
}

export type Rebuild = ReturnType<typeof createRebuild>;
