/** What leaves the hub: plans and occurrences as the API and sockets show them. */
import type { OccurrenceDoc, PlanDoc } from './models.js';

/** The plan's revision (0 for a plan written before revisions existed). */
export const revisionOf = (plan: Pick<PlanDoc, 'revision'>): number => plan.revision ?? 0;

/** The plan's ETag: its revision, quoted (a strong validator). */
export const etagOf = (plan: Pick<PlanDoc, 'revision'>): string => `"${revisionOf(plan)}"`;

export function toPlanView(plan: PlanDoc) {
  return {
    id: String(plan._id),
    patientId: String(plan.patientId),
    timezone: plan.timezone,
    version: plan.version,
    revision: revisionOf(plan),
    windows: { earlyMinutes: plan.windows.earlyMinutes, lateAfterMinutes: plan.windows.lateAfterMinutes, missedAfterMinutes: plan.windows.missedAfterMinutes },
    medications: plan.medications.map((m) => ({
      id: m.id,
      name: m.name,
      strength: m.strength ?? null,
      instructions: m.instructions ?? null,
      slot: m.slot,
      pillsPerDose: m.pillsPerDose,
      stock: m.stock ?? null,
      criticality: m.criticality,
    })),
    schedule: plan.schedule.map((item) => ({
      id: item.id,
      medicationId: item.medicationId,
      times: [...item.times],
      daysOfWeek: [...(item.daysOfWeek ?? [])],
      everyNDays: item.everyNDays ?? null,
      startDate: item.startDate,
      endDate: item.endDate ?? null,
    })),
    updatedAt: (plan as { updatedAt?: Date }).updatedAt?.toISOString() ?? null,
  };
}

export function toOccurrenceView(o: OccurrenceDoc) {
  return {
    id: String(o._id),
    patientId: String(o.patientId),
    medicationId: o.medicationId,
    itemId: o.itemId,
    slot: o.slot,
    pills: o.pills,
    critical: o.critical,
    dueAt: o.dueAt.toISOString(),
    localDate: o.localDate,
    window: { earlyMinutes: o.window.earlyMinutes, lateAfterMinutes: o.window.lateAfterMinutes, missedAfterMinutes: o.window.missedAfterMinutes },
    state: o.state,
    takenAt: o.takenAt ? o.takenAt.toISOString() : null,
    dispensedAt: o.dispensedAt ? o.dispensedAt.toISOString() : null,
    source: o.source ?? null,
    evidence: o.evidence ?? null,
    changedAt: o.changedAt ? o.changedAt.toISOString() : null,
  };
}
