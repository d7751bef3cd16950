/* Generated from schemas/mqtt/schedule.json by scripts/gen-types.ts. Do not edit. */

/**
 * Strictly increasing per device; the device reports the one it applied as appliedScheduleVersion.
 */
export type ScheduleVersion = number;
/**
 * The patient's time zone, for showing local times on the device's display only. Dosing never depends on it: every instant below is UTC.
 */
export type IanaTimeZone = string;
/**
 * Hub clock when this schedule was generated.
 */
export type UtcInstant = string;
/**
 * End of the horizon: the list holds every dose due before this instant (at least 48 h after generatedAt).
 */
export type UtcInstant1 = string;
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
 * When to dispense and remind (UTC).
 */
export type UtcInstant2 = string;

/**
 * The doses the device should dispense, on v1/devices/{id}/schedule (hub → device, QoS 1, retained; the desired state). It is an expanded list of concrete UTC instants over a rolling horizon, not a recurrence rule: the hub does all calendar work (IANA zones, DST, plan start/end, tapering) once, and a small MCU only compares its clock with sorted instants, with no time-zone database, and can name every dose by occurrenceId. The hub republishes it (new version) whenever the plan changes and at least daily so that validUntil stays at least 48 h ahead; a device that stays offline past validUntil runs out of doses and says so rather than guessing. A device applies a schedule only when its version is greater than the one it follows, reports that version in its next heartbeat, and ignores a zero-length retained payload (MQTT's way of clearing a retained message).
 */
export interface DeviceSchedule {
  version: ScheduleVersion;
  timezone: IanaTimeZone;
  generatedAt: UtcInstant;
  validUntil: UtcInstant1;
  /**
   * The doses, sorted by dueAt then slot; (slot, dueAt) is unique. Doses whose window has closed may be left out.
   *
   * @minItems 0
   * @maxItems 256
   */
  items: ScheduleItem[];
}
/**
 * One dose: a number of pills from one slot at one instant.
 */
export interface ScheduleItem {
  occurrenceId?: OccurrenceId;
  slot: SlotNumber;
  pills: PillsPerDose;
  dueAt: UtcInstant2;
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
