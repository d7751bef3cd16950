/* Generated from schemas/http/plan-input.json by scripts/gen-types.ts. Do not edit. */

/**
 * A client- or hub-chosen id, stable across PUTs.
 */
export type PlanId = string;
/**
 * A dispenser slot, numbered from 1 as printed on the device.
 */
export type SlotNumber = number;
/**
 * How many pills make up one dose from one slot.
 */
export type PillsPerDose = number;
/**
 * A local date in the patient's zone (YYYY-MM-DD), a real calendar date (2025-02-29 is refused).
 */
export type LocalDate = string;

/**
 * A patient's medication plan, as created (POST) or replaced as a whole (PUT) on /patients/{id}/medication-plans. Times are wall-clock times in the patient's IANA time zone; see docs/DOSES.md for the DST rules.
 */
export interface PlanInput {
  /**
   * PUT only (ignored on POST): the plan's `revision` the client read and edited. When it is not the plan's current revision — another PUT, or stock taken by a dispense, changed the plan since — the PUT is refused (409) and nothing is written. Optional, but clients should send it (or an If-Match header with the plan's ETag): without it a PUT overwrites whatever changed since the client read the plan, the stock counts included.
   */
  revision?: number;
  windows?: DoseWindows;
  /**
   * @minItems 1
   * @maxItems 32
   */
  medications: [PlanMedication, ...PlanMedication[]];
  /**
   * @minItems 1
   * @maxItems 64
   */
  schedule: [PlanScheduleItem, ...PlanScheduleItem[]];
}
/**
 * When a dose may be taken early, counts as late, and is missed (minutes from dueAt). Defaults: 30, 30, 60.
 */
export interface DoseWindows {
  earlyMinutes?: number;
  lateAfterMinutes?: number;
  missedAfterMinutes?: number;
}
export interface PlanMedication {
  id?: PlanId;
  name: string;
  strength?: string | null;
  instructions?: string | null;
  slot: SlotNumber;
  pillsPerDose: PillsPerDose;
  /**
   * Pills in the device slot; decremented on dose.dispensed.
   */
  stock?: number | null;
  /**
   * A critical medication's missed dose raises a critical alert that starts at the second escalation tier.
   */
  criticality?: 'normal' | 'critical';
}
export interface PlanScheduleItem {
  id?: PlanId;
  medicationId: PlanId;
  /**
   * @minItems 1
   * @maxItems 24
   */
  times: [string, ...string[]];
  /**
   * ISO weekdays, 1 = Monday … 7 = Sunday; empty or absent = every day.
   *
   * @maxItems 7
   */
  daysOfWeek?: number[];
  /**
   * Every N days counted from startDate.
   */
  everyNDays?: number | null;
  startDate: LocalDate;
  endDate?: LocalDate | null;
}
