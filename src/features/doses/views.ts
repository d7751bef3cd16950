/** What leaves the hub: plans and occurrences as the API and sockets show them. */
import type { OccurrenceDoc, PlanDoc } from './models.js';

export function toPlanView(plan: PlanDoc) {
  return {
    id: String(plan._id),
    patientId: String(plan.patientId),
    timezone: plan.timezone,
    version: plan.version,
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
