/* Generated from schemas/http/device-schedule.json by scripts/gen-types.ts. Do not edit. */

/**
 * An IANA time zone name such as Europe/Paris or America/Argentina/Buenos_Aires, or UTC.
 */
export type IanaTimeZone = string;
/**
 * An instant in RFC 3339 form, always in UTC with a trailing Z and at most microsecond precision, e.g. 2025-03-01T08:00:00Z. A fixed shape keeps parsing trivial on a small MCU.
 */
export type UtcInstant = string;
/**
 * The hub's occurrence id for this dose; the device copies it into the dose's events.
 */
export type OccurrenceId = string;
/**
 * Slot to dispense from.
 */
export type SlotNumber = number;
/**
 * Pills to dispense.
 */
export type PillsPerDose = number;
/**
 * An instant in RFC 3339 form, always in UTC with a trailing Z and at most microsecond precision, e.g. 2025-03-01T08:00:00Z. A fixed shape keeps parsing trivial on a small MCU.
 */
export type UtcInstant1 = string;
/**
 * The doses, sorted by dueAt then slot; (slot, dueAt) is unique. Doses whose window has closed may be left out.
 *
 * @minItems 0
 * @maxItems 256
 */
export type Items = ScheduleItem[];

/**
 * Set the schedule a device follows (the medication plans feature generates it; this sets it directly). Published retained with the next version.
 */
export interface DeviceScheduleRequest {
  timezone: IanaTimeZone;
  validUntil?: UtcInstant;
  items: Items;
}
/**
 * One dose: a number of pills from one slot at one instant.
 */
export interface ScheduleItem {
  occurrenceId?: OccurrenceId;
  slot: SlotNumber;
  pills: PillsPerDose;
  dueAt: UtcInstant1;
  window: DoseWindow;
}
/**
 * Minutes around dueAt that shape the dose. The hub guarantees lateAfterMinutes ≤ missedAfterMinutes (JSON Schema cannot compare two fields).
 */
export interface DoseWindow {
  /**
   * The patient may ask for the dose (button) this many minutes before dueAt (up to 12 h, as a plan allows).
   */
  earlyMinutes: number;
  /**
   * Taken after dueAt + this many minutes counts as late.
   */
  lateAfterMinutes: number;
  /**
   * At dueAt + this many minutes, a dose not yet taken is reported as dose.missed.
   */
  missedAfterMinutes: number;
}
