/**
 * Writing a plan's occurrences: generated ahead up to the horizon, inserted idempotently on their
 * unique (planId, itemId, dueAt) key.
 */
import { expandItems, type ExpandedDose } from './expand.js';
import { DEFAULT_WINDOWS, minuteOf, type DoseModels, type PlanDoc } from './models.js';
import { HORIZON_HOURS, HOUR, MINUTE } from './shared.js';

interface Deps {
  Plan: DoseModels['Plan'];
  Occurrence: DoseModels['Occurrence'];
}

export function createOccurrences({ Plan, Occurrence }: Deps) {
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

  return { generateFor, insertDoses };
}

export type Occurrences = ReturnType<typeof createOccurrences>;
