/**
 * Plans, occurrences and adherence: the plan service (through the access
 * policy and the audit log), occurrence generation and the device schedule,
 * the clock sweep, device-event matching, stock and manual confirmation.
 */
import { randomUUID } from 'node:crypto';
import { Types, type QueryFilter } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { patientAudience } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AlertsApi, RaiseAlert } from '../alerts/contract.js';
import type { DeviceIdentity } from '../devices/directory.js';
import type { DeviceDoc, DeviceEventDoc } from '../devices/models.js';
import type { Devices } from '../devices/index.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import { evidenceOf, fleetOf } from './evidence.js';
import { dosesPerDay, expandItems, firstCommonDate, itemActiveBetween, type ExpandedDose, type ExpandItem } from './expand.js';
import { replan, UNDER_WAY } from './replan.js';
import { createLateAlerts, lateAt } from './late-alerts.js';
import { oneAtATime } from '../one-at-a-time.js';
import { createPlannedPatients } from './planned-patients.js';
import { DEFAULT_WINDOWS, minuteOf, type DoseModels, type DoseState, type MedicationDoc, type OccurrenceDoc, type PlanDoc, type PlanItemDoc } from './models.js';
import { etagOf, revisionOf, toOccurrenceView, toPlanView } from './views.js';
import { addDays, daysBetween, isValidZone, localDate, localDates } from './zone.js';

/** Occurrences and the device schedule reach this far ahead. */
export const HORIZON_HOURS = 72;
/** Devices get a fresh schedule when theirs has less than this left. */
export const REPUBLISH_BELOW_HOURS = 48;
/** Low stock: fewer days left than this at the plan's rate. */
export const REFILL_DAYS = 3;
const HOUR = 3_600_000;
/** The sweep covers the minute buckets since its last run (plus an overlap); pauses longer than the lookback are caught up by one range query. */
export const SWEEP_LOOKBACK_MINUTES = 24 * 60;
const SWEEP_OVERLAP_MINUTES = 5;
const MINUTE = 60_000;
/** A rebuild looks this far back: the whole local day now, and every dose that can still be under way (docs/DOSES.md). */
const REPLAN_LOOKBACK_HOURS = 48;
/** A rebuild whose plan kept changing under it (other instances) stops after this many passes. */
const MAX_REBUILD_PASSES = 5;

export interface PlanInput {
  /** PUT only: the revision the client read (optimistic concurrency); ignored on POST. */
  revision?: number;
  windows?: { earlyMinutes?: number; lateAfterMinutes?: number; missedAfterMinutes?: number };
  medications: Array<{ id?: string; name: string; strength?: string | null; instructions?: string | null; slot: number; pillsPerDose: number; stock?: number | null; criticality?: 'normal' | 'critical' }>;
  schedule: Array<{ id?: string; medicationId: string; times: string[]; daysOfWeek?: number[]; everyNDays?: number | null; startDate: string; endDate?: string | null }>;
}

interface Deps {
  models: DoseModels;
  identity: Identity;
  devices: Devices;
  alerts: AlertsApi;
  sockets: SocketTransport;
  clock: Clock;
  logger: Logger;
}

type Occurrence = OccurrenceDoc;
const shortId = (): string => randomUUID().replaceAll('-', '').slice(0, 12);
const oid = (id: string | Types.ObjectId): Types.ObjectId => (typeof id === 'string' ? new Types.ObjectId(id) : id);

export function createDoseService({ models, identity, devices, alerts, sockets, clock, logger }: Deps) {
  const { Plan, Occurrence, StockTaken } = models;
  const { Device } = devices.models;
  const { policy, audit } = identity;
  const log = logger.child({ feature: 'doses' });
  const lateAlerts = createLateAlerts({ Occurrence, alerts, clock, log });
  const plannedPatients = createPlannedPatients(Plan, sockets);

  const track = <T>(actor: Actor, action: string, objectType: string, objectId: string | null, run: () => Promise<T>) => audited(audit, actor, { action, objectType, objectId }, run);

  function emit(occurrence: Occurrence): void {
    sockets.emit(patientAudience({ id: String(occurrence.patientId), organisationId: String(occurrence.organisationId) }), 'dose:updated', toOccurrenceView(occurrence));
  }

  // ---------------------------------------------------------------- plans

  function normalise(input: PlanInput, { now, zone }: { now: Date; zone: string }, previous?: PlanDoc): Pick<PlanDoc, 'windows' | 'medications' | 'schedule'> {
    const windows = { ...DEFAULT_WINDOWS, ...input.windows };
    if (windows.lateAfterMinutes > windows.missedAfterMinutes) {
      throw new AppError('validation_failed', 'lateAfterMinutes must not exceed missedAfterMinutes', { details: [{ path: '/windows', message: 'lateAfterMinutes > missedAfterMinutes' }] });
    }
    const medications = input.medications.map((m) => {
      const before = previous?.medications.find((p) => p.id === m.id);
      return { id: m.id ?? shortId(), name: m.name, strength: m.strength ?? null, instructions: m.instructions ?? null, slot: m.slot, pillsPerDose: m.pillsPerDose, stock: m.stock ?? null, criticality: m.criticality ?? 'normal', refillAlertedAt: before?.refillAlertedAt ?? null };
    });
    const ids = new Set(medications.map((m) => m.id));
    const slots = new Set(medications.map((m) => m.slot));
    if (ids.size !== medications.length) throw invalid('/medications', 'medication ids must be unique');
    if (slots.size !== medications.length) throw invalid('/medications', 'each medication needs its own device slot');
    const itemIds = stableItemIds(input.schedule, previous?.schedule ?? []);
    const schedule = input.schedule.map((item, index) => {
      if (!ids.has(item.medicationId)) throw invalid(`/schedule/${index}/medicationId`, 'names no medication of this plan');
      if (item.endDate && item.endDate < item.startDate) throw invalid(`/schedule/${index}/endDate`, 'is before startDate');
      return { id: itemIds[index] as string, medicationId: item.medicationId, times: sortedTimes(item.times), daysOfWeek: item.daysOfWeek ?? [], everyNDays: item.everyNDays ?? null, startDate: item.startDate, endDate: item.endDate ?? null };
    });
    if (new Set(schedule.map((s) => s.id)).size !== schedule.length) throw invalid('/schedule', 'schedule item ids must be unique');
    refuseOverlaps(schedule);
    const today = localDate(now, zone);
    for (const medication of medications) {
      const low = daysOfStock(medication, schedule, today) !== null;
      // Stock no longer low (topped up, a lower rate, no longer counted) re-arms refill.low; its open alert is resolved once the plan is written (refillsCleared).
      if (!low) medication.refillAlertedAt = null;
      // Stock written low opens a low spell, claimed by the plan's own write; its alert is raised once the plan is written (refillsRaised).
      else if (!medication.refillAlertedAt) medication.refillAlertedAt = now;
    }
    return { windows, medications, schedule } as Pick<PlanDoc, 'windows' | 'medications' | 'schedule'>;
  }

  /**
   * Two items of one medication with a time in common on a day they share would give that day two
   * doses at that time (their item ids differ, so the unique key lets both in): refused, naming both.
   */
  function refuseOverlaps(schedule: ExpandItem[]): void {
    schedule.forEach((item, index) => {
      for (let other = 0; other < index; other += 1) {
        const earlier = schedule[other] as ExpandItem;
        if (earlier.medicationId !== item.medicationId) continue;
        const time = item.times.find((t) => earlier.times.includes(t));
        const date = time ? firstCommonDate(earlier, item) : null;
        if (time && date) {
          throw invalid(`/schedule/${index}`, `overlaps schedule item ${other} (${earlier.id}): both give ${item.medicationId} at ${time}, from ${date} on; a dose must come from one item only`);
        }
      }
    });
  }

  /**
   * The ids of a PUT's schedule items: the client's, else the previous plan's item with the same
   * medication and times (a client replacing the plan as a whole sends what it read, maybe without
   * ids), else a new one. Stable ids keep the item's doses the same doses across the PUT.
   */
  function stableItemIds(items: PlanInput['schedule'], previous: PlanItemDoc[]): string[] {
    const used = new Set(items.flatMap((item) => (item.id ? [item.id] : [])));
    return items.map((item) => {
      if (item.id) return item.id;
      const same = previous.find((p) => !used.has(p.id) && p.medicationId === item.medicationId && sortedTimes(p.times).join() === sortedTimes(item.times).join());
      const id = same?.id ?? shortId();
      used.add(id);
      return id;
    });
  }

  /**
   * Days of stock left at the plan's rate when that is fewer than REFILL_DAYS (low stock), else
   * null: stock not counted, no doses planned, or enough left. The rate counts the items that
   * have doses over the next REFILL_DAYS local days from `today` (not those ended or not started).
   */
  function daysOfStock(medication: Pick<MedicationDoc, 'id' | 'stock' | 'pillsPerDose'>, schedule: ExpandItem[], today: string): number | null {
    if (medication.stock === null || medication.stock === undefined) return null;
    const last = addDays(today, REFILL_DAYS - 1);
    const active = schedule.filter((item) => item.medicationId === medication.id && itemActiveBetween(item, today, last));
    const perDay = active.reduce((sum, item) => sum + dosesPerDay(item), 0) * medication.pillsPerDose;
    const days = Math.max(medication.stock, 0) / perDay;
    return perDay > 0 && days < REFILL_DAYS ? days : null;
  }

  /** After a PUT: the refill.low alerts of medications whose stock is no longer low (or that left the plan) are resolved — their cause cleared. */
  async function refillsCleared(previous: PlanDoc, plan: PlanDoc): Promise<void> {
    for (const before of previous.medications) {
      if (!before.refillAlertedAt) continue;
      const now = plan.medications.find((m) => m.id === before.id);
      if (now?.refillAlertedAt) continue;
      await alerts
        .resolveCause(refillCause(plan.patientId, before.id), now ? 'refilled' : 'medication no longer in the plan')
        .catch((error: unknown) => log.error({ err: error, patientId: String(plan.patientId) }, 'could not resolve refill.low'));
    }
  }

  /** After a POST or PUT: refill.low for the medications whose low spell the write opened (stock written low, see normalise). */
  async function refillsRaised(previous: PlanDoc | null, plan: PlanDoc): Promise<void> {
    for (const medication of plan.medications) {
      if (!medication.refillAlertedAt || previous?.medications.find((m) => m.id === medication.id)?.refillAlertedAt) continue;
      const daysLeft = daysOfStock(medication, plan.schedule, localDate(clock.now(), plan.timezone));
      if (daysLeft !== null) await raiseRefillLow(plan, medication, daysLeft, null);
    }
  }

  /** refill.low for a medication whose low spell was just claimed (refillAlertedAt); best effort. */
  async function raiseRefillLow(plan: PlanDoc, medication: MedicationDoc, daysLeft: number, deviceId: string | null): Promise<void> {
    await alerts
      .raise({
        organisationId: String(plan.organisationId),
        patientId: String(plan.patientId),
        deviceId,
        type: 'refill.low',
        cause: refillCause(plan.patientId, medication.id),
        details: { medicationId: medication.id, slot: medication.slot, pillsLeft: Math.max(medication.stock ?? 0, 0), daysLeft: Math.round(daysLeft * 10) / 10 },
        at: clock.now(),
      })
      .catch((error: unknown) => log.error({ err: error, patientId: String(plan.patientId) }, 'could not raise refill.low'));
  }

  async function patientOf(patientId: Types.ObjectId): Promise<PatientDoc | null> {
    return identity.models.Patient.findById(patientId).lean<PatientDoc>();
  }

  /**
   * Occurrences of a plan from where generation stopped up to now + horizon (idempotent). Answers
   * how many were inserted, and whether the plan was still the one read (`current`: same version,
   * same zone): a plan replaced meanwhile must not keep doses of its old version, nor a plan whose
   * doses a time-zone change moved meanwhile (which does not bump the version) doses in the old
   * zone (the caller rebuilds them).
   */
  async function generateFor(plan: PlanDoc, zone: string, now: Date): Promise<{ inserted: number; current: boolean }> {
    const to = new Date(now.getTime() + HORIZON_HOURS * HOUR);
    const from = plan.generatedUntil && plan.generatedUntil > now ? plan.generatedUntil : now;
    const inserted = from < to ? await insertDoses(plan, expandItems(plan.schedule, zone, from, to), now) : 0;
    const marked = await Plan.updateOne({ _id: plan._id, version: plan.version, timezone: zone }, { $set: { generatedUntil: to } });
    return { inserted, current: marked.matchedCount > 0 };
  }

  /** Upserts doses on the unique (planId, itemId, dueAt): a dose that exists is left as it is. Returns how many were inserted. */
  async function insertDoses(plan: PlanDoc, doses: ExpandedDose[], now: Date): Promise<number> {
    const windows = { ...DEFAULT_WINDOWS, ...(plan.windows ?? {}) };
    const medications = new Map(plan.medications.map((m) => [m.id, m]));
    const ops = doses.flatMap((dose) => {
      const medication = medications.get(dose.medicationId);
      if (!medication) return [];
      const doc = {
        organisationId: plan.organisationId,
        patientId: plan.patientId,
        planId: plan._id,
        itemId: dose.itemId,
        medicationId: dose.medicationId,
        slot: medication.slot,
        pills: medication.pillsPerDose,
        critical: medication.criticality === 'critical',
        dueAt: dose.dueAt,
        localDate: dose.localDate,
        window: windows,
        missedAt: new Date(dose.dueAt.getTime() + windows.missedAfterMinutes * MINUTE),
        dueMinute: minuteOf(dose.dueAt),
        missedMinute: minuteOf(dose.dueAt) + windows.missedAfterMinutes,
        lateMinute: minuteOf(dose.dueAt) + windows.lateAfterMinutes,
        state: 'scheduled',
        changedAt: now,
      };
      return [{ updateOne: { filter: { planId: plan._id, itemId: dose.itemId, dueAt: dose.dueAt }, update: { $setOnInsert: doc }, upsert: true } }];
    });
    if (!ops.length) return 0;
    return (await Occurrence.bulkWrite(ops, { ordered: false })).upsertedCount;
  }

  /**
   * Publishes the next HORIZON_HOURS of doses to every device of the patient. One patient's
   * schedules are read and published one at a time (on this instance): the hourly job reading the
   * doses while a plan change replaces them would otherwise publish the old doses after the new.
   */
  function publishSchedules(patient: Pick<PatientDoc, '_id' | 'timezone'>, only?: DeviceDoc[]): Promise<number> {
    return perPatient(String(patient._id), () => readAndPublishSchedules(patient, only));
  }

  async function readAndPublishSchedules(patient: Pick<PatientDoc, '_id' | 'timezone'>, only?: DeviceDoc[]): Promise<number> {
    const now = clock.now();
    const targets = only ?? (await Device.find({ patientId: patient._id, disabled: { $ne: true } }).lean<DeviceDoc[]>());
    if (!targets.length) return 0;
    // Every dose still open (its window closes after now: a window may last up to 24 h), and those due within the horizon: a device drops a planned dose missing from a new schedule.
    const upcoming = await Occurrence.find({ patientId: patient._id, missedAt: { $gt: now }, dueAt: { $lt: new Date(now.getTime() + HORIZON_HOURS * HOUR) }, state: { $in: ['scheduled', 'due'] } })
      .sort({ dueAt: 1 })
      .lean<Occurrence[]>();
    const items = upcoming.map((o) => ({
      occurrenceId: String(o._id),
      slot: o.slot,
      pills: o.pills,
      dueAt: o.dueAt.toISOString(),
      window: { earlyMinutes: o.window.earlyMinutes, lateAfterMinutes: o.window.lateAfterMinutes, missedAfterMinutes: o.window.missedAfterMinutes },
    }));
    const validUntil = new Date(now.getTime() + HORIZON_HOURS * HOUR).toISOString();
    let published = 0;
    for (const device of targets) if (await devices.schedules.publishFor(patient._id, device, { timezone: patient.timezone, validUntil, items })) published += 1;
    return published;
  }

  const perPatient = oneAtATime();

  /** A device that moved to a patient: that patient's schedule, when they have a plan (devices' followPatient). */
  async function scheduleDevice(device: DeviceDoc): Promise<boolean> {
    if (!device.patientId || !(await plannedPatients.has(String(device.patientId)))) return false;
    const patient = await patientOf(oid(String(device.patientId)));
    if (!patient) return false;
    await publishSchedules(patient, [device]);
    return true;
  }

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

  async function loadPlan(patientId: Types.ObjectId): Promise<PlanDoc> {
    const plan = await Plan.findOne({ patientId }).lean<PlanDoc>();
    if (!plan) throw new AppError('not_found', 'This patient has no medication plan');
    return plan;
  }

  // ---------------------------------------------------------------- state changes

  /**
   * Moves one occurrence from one of `from` to a new state (compare-and-set). Answers the document
   * as it was just before this write and as it is after it, or null when it was in no state of `from`:
   * what the write changed is known from `before`, not from an earlier read another writer (the
   * sweep) may have overtaken.
   */
  async function transition(id: Types.ObjectId, from: readonly DoseState[], set: Partial<Occurrence> & { state: DoseState }, where: QueryFilter<Occurrence> = {}): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const change = { ...set, changedAt: clock.now() };
    const before = await Occurrence.findOneAndUpdate({ ...where, _id: id, state: { $in: from } }, { $set: change }, { returnDocument: 'before' }).lean<Occurrence>();
    if (!before) return null;
    const after: Occurrence = { ...before, ...change };
    emit(after);
    return { before, after };
  }

  /** The dose.missed alert of an occurrence: critical medications start one tier up. Ids only in details. */
  function missedAlert(occurrence: Occurrence): RaiseAlert {
    return {
      organisationId: String(occurrence.organisationId),
      patientId: String(occurrence.patientId),
      type: 'dose.missed',
      cause: `dose.missed:${String(occurrence._id)}`,
      severity: occurrence.critical ? 'critical' : 'warning',
      ...(occurrence.critical ? { startTier: 1 } : {}),
      details: { occurrenceId: String(occurrence._id), slot: occurrence.slot, dueAt: occurrence.dueAt.toISOString(), medicationId: occurrence.medicationId },
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
    await alerts.resolveCauses(moved.map((o) => `dose.missed:${String(o._id)}`), 'dose reported meanwhile').catch((error: unknown) => log.error({ err: error, alerts: moved.length }, 'could not resolve dose.missed'));
  }

  /** States a dose.taken or a confirmation settles. */
  const TAKEABLE: readonly DoseState[] = ['scheduled', 'due', 'missed', 'unknown'];

  /**
   * A dose taken at `at` (device or confirmation): taken on time, or late after the late threshold.
   * `from`: the states it may leave (a device's dose.taken also settles a cancelled dose it names).
   */
  async function recordTaken(occurrence: Occurrence, at: Date, fields: Partial<Occurrence>, from: readonly DoseState[] = TAKEABLE): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const lateAt = occurrence.dueAt.getTime() + occurrence.window.lateAfterMinutes * MINUTE;
    const state: DoseState = at.getTime() > lateAt ? 'late' : 'taken';
    const changed = await transition(occurrence._id, from, { state, takenAt: at, ...fields });
    if (!changed) return null;
    // Missed as this write found it (the sweep may have made it missed after `occurrence` was read).
    if (changed.before.state === 'missed') {
      await alerts.resolveCause(`dose.missed:${String(occurrence._id)}`, 'taken late').catch((error: unknown) => log.error({ err: error, occurrenceId: String(occurrence._id) }, 'could not resolve dose.missed'));
    }
    // The document as updated: it shows a dose.late the sweep raised after `occurrence` was read.
    await lateAlerts.resolve([changed.after], 'taken');
    return changed;
  }

  // ---------------------------------------------------------------- device events

  /** States a device event may name a dose in when it names it by slot and dueAt: doses still open. */
  const OPEN_TO_EVENTS: readonly DoseState[] = ['scheduled', 'due', 'unknown'];
  /** A taken or dispensed dose also reconciles a missed one (taken late). */
  const RECONCILED_BY: ReadonlySet<string> = new Set(['dose.taken', 'dose.dispensed']);

  /**
   * The dose an event names by its occurrenceId: undefined when it names none, null when the dose
   * it names is not its patient's — unknown, or another patient's (a dispenser moved to another
   * patient sends the events its outbox held for the previous one, tagged with the new patient).
   */
  async function namedOccurrence(device: DeviceIdentity, event: DeviceEventDoc): Promise<Occurrence | null | undefined> {
    const occurrenceId = (event.payload as Record<string, unknown>).occurrenceId;
    if (typeof occurrenceId !== 'string') return undefined;
    if (!device.patientId || !Types.ObjectId.isValid(occurrenceId)) return null;
    return Occurrence.findOne({ _id: new Types.ObjectId(occurrenceId), patientId: device.patientId }).lean<Occurrence>();
  }

  /** An event that names no dose by occurrenceId: the dose of its slot nearest its dueAt, if any. */
  async function matchBySlot(device: DeviceIdentity, event: DeviceEventDoc): Promise<Occurrence | null> {
    const patientId = device.patientId;
    if (!patientId) return null;
    const payload = event.payload as Record<string, unknown>;
    // A dose dispensed by a command (dispense_now) is an extra dose: without its occurrenceId it is none of the scheduled ones.
    if (typeof payload.commandId === 'string' || typeof payload.slot !== 'number') return null;
    // The device's dueAt names the dose; its `at` is when something happened, maybe well before or after.
    const reference = typeof payload.dueAt === 'string' ? new Date(payload.dueAt) : event.at;
    const states: DoseState[] = RECONCILED_BY.has(event.type) ? [...OPEN_TO_EVENTS, 'missed'] : [...OPEN_TO_EVENTS];
    const candidates = await Occurrence.find({ patientId, slot: payload.slot, state: { $in: states }, dueAt: { $gte: new Date(reference.getTime() - 12 * HOUR), $lte: new Date(reference.getTime() + 12 * HOUR) } }).lean<Occurrence[]>();
    // The reference must fall in the occurrence's window; the nearest dueAt wins.
    let best: Occurrence | null = null;
    for (const candidate of candidates) {
      const delta = reference.getTime() - candidate.dueAt.getTime();
      const inWindow = delta >= -candidate.window.earlyMinutes * MINUTE && delta <= candidate.window.missedAfterMinutes * MINUTE;
      if (!inWindow) continue;
      if (!best || Math.abs(delta) < Math.abs(reference.getTime() - best.dueAt.getTime())) best = candidate;
    }
    return best;
  }

  /**
   * A failure here fails the event: the device gets no ack and resends it, and the resend, though
   * stored already, is applied again (devices' ingest). Applying an event again changes nothing
   * it already changed: state transitions are guarded by the state, and a dispense takes stock
   * once per event (StockTaken).
   */
  async function onDeviceEvent(device: DeviceIdentity, event: DeviceEventDoc): Promise<void> {
    if (!event.type.startsWith('dose.') || !device.patientId) return;
    if (!(await plannedPatients.has(String(device.patientId)))) {
      log.debug({ deviceId: device._id, eventId: event.eventId, type: event.type }, 'dose event for a patient without a plan');
      return;
    }
    try {
      await applyDeviceEvent(device, event);
    } catch (error) {
      log.warn({ err: error, deviceId: device._id, eventId: event.eventId }, 'dose event could not be applied; the device will send it again');
      throw error;
    }
  }

  async function applyDeviceEvent(device: DeviceIdentity, event: DeviceEventDoc): Promise<void> {
    const payload = event.payload as Record<string, unknown>;
    const named = await namedOccurrence(device, event);
    if (named === null) {
      // Never matched by slot instead: that would settle (and take the stock of) another dose of this patient.
      log.warn({ deviceId: device._id, eventId: event.eventId, type: event.type, occurrenceId: payload.occurrenceId }, 'dose event names a dose that is not its patient’s; ignored');
      return;
    }
    if (event.type === 'dose.dispensed' && (await takesStockOnce(event))) await decrementStock(device, payload);
    const occurrence = named ?? (await matchBySlot(device, event));
    if (!occurrence) {
      log.info({ deviceId: device._id, eventId: event.eventId, type: event.type }, 'dose event matches no occurrence');
      return;
    }
    const fields = { source: 'device', eventId: event.eventId };
    switch (event.type) {
      case 'dose.dispensed': {
        if (occurrence.state === 'cancelled' && (await reviveDispensed(occurrence, event))) {
          await replanAfterRevival(occurrence);
          break;
        }
        await Occurrence.updateOne({ _id: occurrence._id, dispensedAt: null }, { $set: { dispensedAt: event.at } });
        // Applied again (a resend, the devices' recovery sweep): the rebuild its revival still owes is tried again.
        if (occurrence.replanOwed) await replanAfterRevival(occurrence);
        break;
      }
      case 'dose.taken': {
        // A cancelled dose is reached only by its occurrenceId: the device dispensed it from a schedule it held, and the patient took it.
        const taken = await recordTakenByDevice(occurrence, event.at, fields);
        if (taken?.before.state === 'cancelled' || occurrence.replanOwed) await replanAfterRevival(occurrence);
        break;
      }
      case 'dose.skipped': {
        const skipped = await transition(occurrence._id, ['scheduled', 'due', 'missed', 'unknown'], { state: 'skipped', ...fields });
        if (skipped?.before.state === 'missed') await alerts.resolveCause(`dose.missed:${String(occurrence._id)}`, 'skipped').catch(() => undefined);
        if (skipped) await lateAlerts.resolve([skipped.after], 'skipped');
        break;
      }
      case 'dose.missed': {
        const reason = typeof payload.reason === 'string' ? payload.reason : 'not_taken';
        const missed = await transition(occurrence._id, ['scheduled', 'due', 'unknown'], { state: 'missed', evidence: `device:${reason}`, ...fields });
        if (missed) await raiseMissed(missed.after);
        if (missed) await lateAlerts.resolve([missed.after], 'missed');
        break;
      }
    }
  }

  /**
   * A dose.dispensed naming a cancelled dose (a schedule the device held before the plan changed):
   * its pills left the device, so it is a dose again — under way as if never cancelled (scheduled
   * before its time, due in its window), or unknown when its window has closed (nobody knows yet
   * whether the patient took it; a dose.taken makes it late). Answers whether it was revived.
   */
  async function reviveDispensed(occurrence: Occurrence, event: DeviceEventDoc): Promise<boolean> {
    const now = clock.now();
    const state: DoseState = now < occurrence.dueAt ? 'scheduled' : now < occurrence.missedAt ? 'due' : 'unknown';
    const revived = await transition(occurrence._id, ['cancelled'], { state, source: 'device', eventId: event.eventId, dispensedAt: occurrence.dispensedAt ?? event.at, ...owesReplan() });
    return revived !== null;
  }

  /**
   * Recorded by the write that revives a cancelled dose: the patient's doses owe a rebuild (paid by
   * the next rebuild that stands, see rebuild), so that neither a failed rebuild nor a hub stopped
   * between the two loses it.
   */
  const owesReplan = (): Pick<Occurrence, 'replanOwed' | 'replanOwedBy'> => ({ replanOwed: true, replanOwedBy: randomUUID() });

  /**
   * A device's dose.taken: taken or late, from a state a dose.taken settles or from `cancelled` (a
   * revival, which then owes a rebuild, recorded by the same write). Each write is guarded by the
   * states it leaves; the dose may move between them meanwhile (a plan change cancelling it, its
   * dose.dispensed reviving it), so each is tried again once it may apply. A revived dose is
   * dispensed and never cancelled again, so three writes at most.
   */
  async function recordTakenByDevice(occurrence: Occurrence, at: Date, fields: Partial<Occurrence>): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const order = occurrence.state === 'cancelled' ? ['revive', 'settle'] : ['settle', 'revive', 'settle'];
    for (const step of order) {
      const taken = step === 'revive' ? await recordTaken(occurrence, at, { ...fields, ...owesReplan() }, ['cancelled']) : await recordTaken(occurrence, at, fields);
      if (taken) return taken;
    }
    return null;
  }

  /**
   * A cancelled dose a device's event brought back: the patient's doses are rebuilt, so that the
   * dose that replaced it that day (when it was cancelled for a far time) makes way, and the devices
   * get the schedule. Should it fail (or give up), the event stands and the dose still owes the
   * rebuild (`replanOwed`): the per-minute job `doses.replan-owed`, any later rebuild of the
   * patient, or this event applied again pays it.
   */
  async function replanAfterRevival(occurrence: Occurrence): Promise<void> {
    log.info({ occurrenceId: String(occurrence._id), patientId: String(occurrence.patientId) }, 'a device’s event brought a cancelled dose back');
    try {
      if (!(await replanPatient(occurrence.patientId))) log.warn({ patientId: String(occurrence.patientId) }, 'the rebuild after a cancelled dose came back gave up; doses.replan-owed tries again');
    } catch (error) {
      log.error({ err: error, patientId: String(occurrence.patientId) }, 'could not rebuild the doses after a cancelled dose came back; doses.replan-owed tries again');
    }
  }

  /** Patients whose owed rebuild failed in this process: how often, and when the job tries again. */
  const owedRetries = new Map<string, { failures: number; nextAt: number }>();

  /**
   * Every minute: the patients whose doses still owe a rebuild after a device brought a cancelled
   * dose back (the rebuild failed or gave up, or the hub stopped before it ran) are rebuilt. Safe
   * twice and on several instances: a rebuild is guarded by the plan's version and zone, and pays
   * only the debts it read.
   */
  async function replanOwed(): Promise<{ patients: number; rebuilt: number }> {
    const now = clock.now().getTime();
    const owed = await Occurrence.find({ replanOwed: true }, { patientId: 1 }).limit(1000).lean<Occurrence[]>();
    // A patient whose rebuild keeps failing waits longer each time (1, 2, 4… up to 60 minutes), so the others are not held up behind it.
    const patients = [...new Set(owed.map((o) => String(o.patientId)))].filter((id) => (owedRetries.get(id)?.nextAt ?? 0) <= now);
    let rebuilt = 0;
    for (const patientId of patients) {
      let stood = false;
      try {
        stood = await replanPatient(oid(patientId));
      } catch (error) {
        log.error({ err: error, patientId }, 'could not rebuild the doses a revived dose owes; tried again later');
      }
      if (stood) {
        rebuilt += 1;
        owedRetries.delete(patientId);
        continue;
      }
      const failures = (owedRetries.get(patientId)?.failures ?? 0) + 1;
      owedRetries.set(patientId, { failures, nextAt: now + Math.min(2 ** (failures - 1), 60) * 60_000 });
    }
    return { patients: patients.length, rebuilt };
  }

  /**
   * Whether this event is the first to take its pills off the stock: claimed before the stock is
   * changed, so an event applied again never takes them twice (a failure between the claim and
   * the decrement loses one decrement rather than doubling it).
   */
  async function takesStockOnce(event: DeviceEventDoc): Promise<boolean> {
    try {
      await StockTaken.create({ _id: event._id, at: clock.now() });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 11000) return false;
      throw error;
    }
  }

  async function decrementStock(device: DeviceIdentity, payload: Record<string, unknown>): Promise<void> {
    if (typeof payload.slot !== 'number' || typeof payload.pills !== 'number') return;
    // Each write here grows the plan's revision: a PUT made from a read before it is refused.
    const plan = await Plan.findOneAndUpdate(
      { patientId: device.patientId, medications: { $elemMatch: { slot: payload.slot, stock: { $ne: null } } } },
      { $inc: { 'medications.$.stock': -payload.pills, revision: 1 } },
      { returnDocument: 'after' },
    ).lean<PlanDoc>();
    if (!plan) return;
    const medication = plan.medications.find((m) => m.slot === payload.slot);
    if (!medication || medication.stock === null || medication.stock === undefined) return;
    if (medication.stock < 0) await Plan.updateOne({ _id: plan._id, 'medications.id': medication.id }, { $set: { 'medications.$.stock': 0 }, $inc: { revision: 1 } });
    const daysLeft = daysOfStock(medication, plan.schedule, localDate(clock.now(), plan.timezone));
    if (daysLeft === null || medication.refillAlertedAt) return;
    const claimed = await Plan.updateOne({ _id: plan._id, medications: { $elemMatch: { id: medication.id, refillAlertedAt: null } } }, { $set: { 'medications.$.refillAlertedAt': clock.now() }, $inc: { revision: 1 } });
    if (!claimed.modifiedCount) return;
    await raiseRefillLow(plan, medication, daysLeft, device._id);
  }

  // ---------------------------------------------------------------- jobs

  /** Hourly: occurrences up to the horizon for every plan, and fresh schedules for devices whose schedule runs short. */
  async function generate(): Promise<{ plans: number; inserted: number; published: number }> {
    const now = clock.now();
    const horizon = new Date(now.getTime() + HORIZON_HOURS * HOUR - HOUR);
    const plans = await Plan.find({ $or: [{ generatedUntil: null }, { generatedUntil: { $lt: horizon } }] }).lean<PlanDoc[]>();
    let inserted = 0;
    const patients = new Map((await identity.models.Patient.find({ _id: { $in: plans.map((p) => p.patientId) } }, { timezone: 1 }).lean<PatientDoc[]>()).map((p) => [String(p._id), p]));
    for (const plan of plans) {
      const patient = patients.get(String(plan.patientId));
      if (patient) inserted += await planWork(String(plan.patientId), () => extend(plan, patient, now));
    }
    // Devices whose published schedule ends within REPUBLISH_BELOW_HOURS get the next HORIZON_HOURS.
    const soon = new Date(now.getTime() + REPUBLISH_BELOW_HOURS * HOUR).toISOString();
    const planned = await Plan.distinct('patientId');
    const stale = await Device.find({ patientId: { $in: planned }, disabled: { $ne: true }, 'schedule.owed': { $ne: true }, $or: [{ 'schedule.payload': null }, { 'schedule.payload.validUntil': { $lt: soon } }] }).lean<DeviceDoc[]>();
    const byPatient = new Map<string, DeviceDoc[]>();
    for (const device of stale) byPatient.set(String(device.patientId), [...(byPatient.get(String(device.patientId)) ?? []), device]);
    let published = 0;
    for (const [patientId, list] of byPatient) {
      const patient = await patientOf(oid(patientId));
      if (patient) published += await publishSchedules(patient, list);
    }
    // Devices moved to another patient whose new schedule was not published then (the move failed halfway).
    for (const device of await Device.find({ 'schedule.owed': true, disabled: { $ne: true } }).lean<DeviceDoc[]>()) {
      try {
        await devices.service.followPatient(device);
        published += 1;
      } catch (error) {
        log.warn({ err: error, deviceId: device._id }, 'could not publish the schedule a moved device is owed; next hour again');
      }
    }
    return { plans: plans.length, inserted, published };
  }

  /**
   * The hourly generation of one plan (inside planWork). A plan replaced since it was read, or
   * whose zone is not the patient's any more (a time-zone change whose rebuild failed), is rebuilt
   * from what is current instead.
   */
  async function extend(plan: PlanDoc, patient: PatientDoc, now: Date): Promise<number> {
    if (plan.timezone !== patient.timezone) {
      await rebuild(plan.patientId);
      return 0;
    }
    const { inserted, current } = await generateFor(plan, patient.timezone, now);
    if (!current) await rebuild(plan.patientId);
    return inserted;
  }

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
      for (const o of becameDue) emit({ ...o, state: 'due', changedAt: now });
    }

    const closing = (await Occurrence.find(closingFilter).lean<Occurrence[]>()).filter((o) => o.missedAt <= now);
    // Late but not closing: a dose whose window closes now is missed (or unknown), not late.
    const late = (await Occurrence.find(lateFilter).lean<Occurrence[]>()).filter((o) => lateAt(o) <= now.getTime() && o.missedAt > now);
    const fleet = closing.length || late.length ? await fleetOf(Device, [...closing, ...late].map((o) => String(o.patientId))) : new Map<string, DeviceDoc[]>();
    const evidence = (o: Occurrence) => evidenceOf(o, fleet.get(String(o.patientId)) ?? [], now);
    const closed = closing.length ? await close(closing, closingFilter, evidence, now) : { missed: 0, unknown: 0, missedNow: [], unknownNow: [] };
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
    const unalerted = await Occurrence.find({ state: 'missed', alertedAt: null }).limit(500).lean<Occurrence[]>();
    const retry = unalerted.filter((o) => o.changedAt && o.changedAt < now && o.missedAt.getTime() > now.getTime() - 24 * HOUR);
    if (retry.length) await retryUnalerted(retry);
    lastSweptMinute = nowMinute;
    return { due, late: lateNow.length, missed: closed.missed, unknown: closed.unknown };
  }

  /** Occurrences generated before lateMinute existed get it (once per process, with the catch-up sweep). */
  async function fillLateMinutes(): Promise<void> {
    await Occurrence.updateMany({ state: { $in: ['scheduled', 'due'] }, lateMinute: null }, [{ $set: { lateMinute: { $add: ['$dueMinute', '$window.lateAfterMinutes'] } } }], { updatePipeline: true });
  }

  /**
   * Closing doses → missed (with evidence) or unknown. Answers the counts and the doses this sweep
   * made missed (their alerts claimed by the same write: alertedAt) or unknown.
   */
  async function close(closing: Occurrence[], closingFilter: QueryFilter<Occurrence>, evidence: (o: Occurrence) => ReturnType<typeof evidenceOf>, now: Date): Promise<{ missed: number; unknown: number; missedNow: Occurrence[]; unknownNow: Occurrence[] }> {
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
    // The exceptions (usually few) by id first; then every other closing dose at once, by the bucket filter.
    if (toUnknown.length) {
      unknown = (await Occurrence.updateMany({ _id: { $in: toUnknown.map((o) => o._id) }, state: { $in: open } }, { $set: { state: 'unknown', source: 'clock', evidence: 'device_offline', changedAt: now } })).modifiedCount;
      for (const o of toUnknown) emit({ ...o, state: 'unknown', source: 'clock', evidence: 'device_offline', changedAt: now });
    }
    if (notConfirmed.length) {
      missed += (await Occurrence.updateMany({ _id: { $in: notConfirmed.map((o) => o._id) }, state: { $in: open } }, { $set: { state: 'missed', source: 'clock', evidence: 'not_confirmed', changedAt: now, alertedAt: now } })).modifiedCount;
    }
    if (watchedMissed.length) {
      missed += (await Occurrence.updateMany({ ...closingFilter, missedAt: { $lte: now } }, { $set: { state: 'missed', source: 'clock', evidence: 'device_online_no_event', changedAt: now, alertedAt: now } })).modifiedCount;
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

  // ---------------------------------------------------------------- API

  return {
    onDeviceEvent,
    followTimezone,
    generate,
    sweep,
    replanOwed,
    publishSchedules,
    scheduleDevice,

    async createPlan(actor: Actor, patientId: string, input: PlanInput) {
      return track(actor, 'plan.create', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.write');
        const exists = () => new AppError('conflict', 'This patient already has a medication plan; replace it with PUT');
        if (await Plan.exists({ patientId: patient._id })) throw exists();
        if (!isValidZone(patient.timezone)) throw new AppError('conflict', 'The patient has no valid time zone');
        // The unique patientId decides between two creations at once: the second is a 409 like any other.
        const created = await Plan.create({ organisationId: patient.organisationId, patientId: patient._id, timezone: patient.timezone, ...normalise(input, { now: clock.now(), zone: patient.timezone }), updatedBy: actor.principal.userId }).catch((error: unknown) => {
          throw (error as { code?: number }).code === 11000 ? exists() : error;
        });
        const plan = created.toObject() as PlanDoc;
        plannedPatients.created(String(patient._id));
        await refillsRaised(null, plan);
        await replanPatient(patient._id);
        return toPlanView(plan);
      });
    },

    async getPlan(actor: Actor, patientId: string) {
      return track(actor, 'plan.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.read');
        return toPlanView(await loadPlan(patient._id));
      });
    },

    /**
     * Replaces the plan. `input.revision` and `ifMatch` (the If-Match header's entity tags, or '*')
     * are the client's preconditions: the plan's revision it read. When the plan is at another one
     * now (a PUT, or a dispense taking stock, since), nothing is written: 409 with the current
     * revision. The write itself is guarded by the revision this call read, so a change between its
     * read and its write is never overwritten either: it reads again (and checks the preconditions
     * again).
     */
    async replacePlan(actor: Actor, patientId: string, input: PlanInput, ifMatch?: '*' | string[]) {
      return track(actor, 'plan.update', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.write');
        for (let attempt = 1; ; attempt += 1) {
          const previous = await loadPlan(patient._id);
          const current = revisionOf(previous);
          if ((input.revision !== undefined && input.revision !== current) || (ifMatch && ifMatch !== '*' && !ifMatch.includes(etagOf(previous)))) throw stalePlan(current);
          const plan = await Plan.findOneAndUpdate(
            // A plan written before revisions existed has none: null matches it.
            { _id: previous._id, revision: previous.revision ?? null },
            // generatedUntil is left as it is: the rebuild sets it, and a generation from `now` before that would bring back doses the rebuild leaves out (replan.ts).
            { $set: { ...normalise(input, { now: clock.now(), zone: previous.timezone }, previous), updatedBy: actor.principal.userId, revision: current + 1 }, $inc: { version: 1 } },
            { returnDocument: 'after' },
          ).lean<PlanDoc>();
          if (!plan) {
            if (attempt < MAX_PUT_ATTEMPTS) continue;
            throw new AppError('conflict', 'The plan kept changing while it was being replaced; read it again and retry', { headers: { 'Retry-After': '1' } });
          }
          await refillsCleared(previous, plan);
          await refillsRaised(previous, plan);
          await replanPatient(patient._id);
          return toPlanView(plan);
        }
      });
    },

    async listDoses(actor: Actor, patientId: string, query: { from?: string; to?: string; state?: DoseState; limit?: number }) {
      return track(actor, 'dose.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'dose.read');
        const now = clock.now();
        const from = query.from ? new Date(query.from) : new Date(now.getTime() - 24 * HOUR);
        const to = query.to ? new Date(query.to) : new Date(now.getTime() + 24 * HOUR);
        if (to < from) throw invalid('/to', 'is before from');
        // Cancelled doses (retired by a plan change) only when asked for by state.
        const filter: Record<string, unknown> = { patientId: patient._id, dueAt: { $gte: from, $lt: to }, state: query.state ?? { $ne: 'cancelled' } };
        const items = await Occurrence.find(filter).sort({ dueAt: 1 }).limit(query.limit ?? 500).lean<Occurrence[]>();
        return { from: from.toISOString(), to: to.toISOString(), items: items.map(toOccurrenceView) };
      });
    },

    async confirm(actor: Actor, patientId: string, occurrenceId: string, input: { takenAt?: string }) {
      return track(actor, 'dose.confirm', 'dose', occurrenceId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'dose.confirm');
        const occurrence = Types.ObjectId.isValid(occurrenceId) ? await Occurrence.findOne({ _id: new Types.ObjectId(occurrenceId), patientId: patient._id }).lean<Occurrence>() : null;
        if (!occurrence) throw new AppError('not_found', 'Dose not found');
        const now = clock.now();
        const takenAt = input.takenAt ? new Date(input.takenAt) : now;
        if (takenAt > now) throw invalid('/takenAt', 'is in the future');
        if (takenAt.getTime() < occurrence.dueAt.getTime() - occurrence.window.earlyMinutes * MINUTE) throw invalid('/takenAt', 'is before the dose window opens');
        if (['taken', 'late'].includes(occurrence.state)) return toOccurrenceView(occurrence);
        if (occurrence.state === 'skipped') throw new AppError('conflict', 'This dose was skipped');
        if (occurrence.state === 'cancelled') throw new AppError('conflict', 'This dose was cancelled by a plan change');
        const updated = await recordTaken(occurrence, takenAt, { source: 'confirmation', confirmedBy: actor.principal.userId });
        if (!updated) throw new AppError('conflict', 'The dose changed meanwhile; read it again');
        return toOccurrenceView(updated.after);
      });
    },

    async adherence(actor: Actor, patientId: string, query: { from?: string; to?: string }) {
      return track(actor, 'adherence.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'dose.read');
        const today = localDate(clock.now(), patient.timezone);
        const to = query.to ?? today;
        const from = query.from ?? addDays(to, -6);
        if (to < from) throw invalid('/to', 'is before from');
        // Counted, not walked: a range of millennia must not hold the event loop while its days are listed.
        if (daysBetween(from, to) + 1 > MAX_ADHERENCE_DAYS) throw invalid('/from', `the range is longer than ${MAX_ADHERENCE_DAYS} days`);
        const occurrences = (await Occurrence.find({ patientId: patient._id, localDate: { $gte: from, $lte: to } }, { localDate: 1, medicationId: 1, state: 1 }).lean<Occurrence[]>()).filter((o) => o.state !== 'cancelled');
        const plan = await Plan.findOne({ patientId: patient._id }, { medications: 1 }).lean<PlanDoc>();
        const names = new Map((plan?.medications ?? []).map((m) => [m.id, m.name]));
        const days = new Map<string, { total: Counts; medications: Map<string, Counts> }>();
        for (const date of localDates(from, to)) days.set(date, { total: emptyCounts(), medications: new Map() });
        const overall = emptyCounts();
        for (const o of occurrences) {
          const day = days.get(o.localDate);
          if (!day) continue;
          const perMedication = day.medications.get(o.medicationId) ?? emptyCounts();
          day.medications.set(o.medicationId, perMedication);
          for (const counts of [day.total, perMedication, overall]) count(counts, o.state);
        }
        return {
          patientId: String(patient._id),
          timezone: patient.timezone,
          from,
          to,
          formula: ADHERENCE_FORMULA,
          total: finish(overall),
          days: [...days].map(([date, day]) => ({
            date,
            ...finish(day.total),
            medications: [...day.medications].map(([medicationId, counts]) => ({ medicationId, name: names.get(medicationId) ?? null, ...finish(counts) })),
          })),
        };
      });
    },
  };
}

/** The longest adherence report, in days: a year, leap day included. */
const MAX_ADHERENCE_DAYS = 366;

export const ADHERENCE_FORMULA = '(takenOnTime + late) / (scheduled - unknown - pending), null when the denominator is 0';

interface Counts {
  scheduled: number;
  takenOnTime: number;
  late: number;
  missed: number;
  skipped: number;
  unknown: number;
  pending: number;
}
const emptyCounts = (): Counts => ({ scheduled: 0, takenOnTime: 0, late: 0, missed: 0, skipped: 0, unknown: 0, pending: 0 });

function count(counts: Counts, state: DoseState): void {
  counts.scheduled += 1;
  if (state === 'taken') counts.takenOnTime += 1;
  else if (state === 'late') counts.late += 1;
  else if (state === 'missed') counts.missed += 1;
  else if (state === 'skipped') counts.skipped += 1;
  else if (state === 'unknown') counts.unknown += 1;
  else counts.pending += 1;
}

function finish(counts: Counts) {
  const denominator = counts.scheduled - counts.unknown - counts.pending;
  return { ...counts, adherencePercent: denominator > 0 ? Math.round(((counts.takenOnTime + counts.late) / denominator) * 1000) / 10 : null };
}

/** A PUT whose guarded write found the plan changed since its read reads it again, this many times at most. */
const MAX_PUT_ATTEMPTS = 5;

/** A PUT made from an older read of the plan: 409, with the current revision (and ETag) to read again from. */
function stalePlan(current: number): AppError {
  return new AppError('conflict', `The plan changed since it was read: it is at revision ${current} now; read it again and apply the change to it`, {
    details: [{ path: '/revision', message: `is ${current} now` }],
    headers: { ETag: `"${current}"` },
  });
}

const refillCause = (patientId: Types.ObjectId, medicationId: string): string => `refill.low:${String(patientId)}:${medicationId}`;
const sortedTimes = (times: string[]): string[] => [...new Set(times)].sort();

function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path.slice(1)} ${message}`, { details: [{ path, message }] });
}

export type DoseService = ReturnType<typeof createDoseService>;
