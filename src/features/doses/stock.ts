/**
 * Stock and refill.low: the days of stock a medication has left at its plan's rate, the alerts a
 * plan's write opens or clears, and the stock a device's dispense takes (once per event).
 */
import type { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi } from '../alerts/contract.js';
import type { DeviceEventDoc } from '../devices/models.js';
import type { DeviceIdentity } from '../devices/directory.js';
import { dosesPerDay, itemActiveBetween, type ExpandItem } from './expand.js';
import type { DoseModels, MedicationDoc, PlanDoc } from './models.js';
import { addDays, localDate } from './zone.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

/** Low stock: fewer days left than this at the plan's rate. */
export const REFILL_DAYS = 3;

/**
 * Days of stock left at the plan's rate when that is fewer than REFILL_DAYS (low stock), else
 * null: stock not counted, no doses planned, or enough left. The rate counts the items that
 * have doses over the next REFILL_DAYS local days from `today` (not those ended or not started).
 */
export function daysOfStock(medication: Pick<MedicationDoc, 'id' | 'stock' | 'pillsPerDose'>, schedule: ExpandItem[], today: string): number | null {
  if (medication.stock === null || medication.stock === undefined) return null;
  const last = addDays(today, REFILL_DAYS - 1);
  const active = schedule.filter((item) => item.medicationId === medication.id && itemActiveBetween(item, today, last));
  const perDay = active.reduce((sum, item) => sum + dosesPerDay(item), 0) * medication.pillsPerDose;
  const days = Math.max(medication.stock, 0) / perDay;
  return perDay > 0 && days < REFILL_DAYS ? days : null;
}

const refillCause = (patientId: Types.ObjectId, medicationId: string): string => `refill.low:${String(patientId)}:${medicationId}`;

interface Deps {
  Plan: DoseModels['Plan'];
  StockTaken: DoseModels['StockTaken'];
  alerts: AlertsApi;
  clock: Clock;
  log: Logger;
}

export function createStock({ Plan, StockTaken, alerts, clock, log }: Deps) {
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
      if (isDuplicateKey(error)) return false;
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

  return { refillsCleared, refillsRaised, takesStockOnce, decrementStock };
}

export type Stock = ReturnType<typeof createStock>;
