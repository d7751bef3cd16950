/* Generated from schemas/mqtt/event.json by scripts/gen-types.ts. Do not edit. */

/**
 * Something happened at the device, on v1/devices/{id}/events (device → hub, QoS 1, not retained). `type` selects exactly one branch of the oneOf, and each branch is a closed object, so every type's fields are validated. The device keeps the event in its outbox until the PUBACK arrives and resends it with the same eventId; the hub stores it once per (deviceId, eventId). Dose events name their dose by `dueAt` (scheduled doses) or `commandId` (doses dispensed by a dispense_now command), plus `occurrenceId` when the device knows it: a dose event without commandId must carry dueAt. The hub should compile with ajv's `discriminator: true` option so that an invalid event reports the errors of its own type's branch only.
 */
export type DeviceEvent =
  | DoseDispensedEvent
  | DoseTakenEvent
  | DoseSkippedEvent
  | DoseMissedEvent
  | DeviceJamEvent
  | DeviceTamperEvent
  | RefillLowEvent
  | HelpRequestedEvent
  | DeviceRebootEvent;
/**
 * Device-generated id of this event (UUID or ULID). A resend carries the same id.
 */
export type MessageId = string;
/**
 * Device clock when the event happened (not when it was sent; an event may sit in the outbox for hours).
 */
export type UtcInstant = string;
/**
 * The slot concerned.
 */
export type SlotNumber = number;
/**
 * Pills in the dose.
 */
export type PillsPerDose = number;
/**
 * The `dueAt` of the schedule item this dose belongs to; with `slot` it names the dose even without an occurrenceId.
 */
export type UtcInstant1 = string;
/**
 * The hub's occurrence id, copied from the schedule item or the dispense_now command, when the device has it.
 */
export type OccurrenceId = string;
/**
 * The dispense_now command that produced this dose, when it did not come from the schedule.
 */
export type MessageId1 = string;
/**
 * Pills left in the slot.
 */
export type PillCount = number;
/**
 * The threshold that was crossed.
 */
export type PillCount1 = number;
/**
 * Firmware version now running.
 */
export type SemVer = string;

/**
 * The device released a dose into the tray.
 */
export interface DoseDispensedEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'dose.dispensed';
  at: UtcInstant;
  slot: SlotNumber;
  pills: PillsPerDose;
  /**
   * What made the device dispense: the schedule at dueAt, the patient pressing the button inside the early window, or a dispense_now command.
   */
  trigger: 'schedule' | 'button' | 'command';
  dueAt?: UtcInstant1;
  occurrenceId?: OccurrenceId;
  commandId?: MessageId1;
}
/**
 * The patient took the dose out of the tray. The hub decides from dueAt and the window whether it was on time or late.
 */
export interface DoseTakenEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'dose.taken';
  at: UtcInstant;
  slot: SlotNumber;
  pills: PillsPerDose;
  dueAt?: UtcInstant1;
  occurrenceId?: OccurrenceId;
  commandId?: MessageId1;
}
/**
 * The patient told the device to skip this dose (a deliberate choice, unlike dose.missed).
 */
export interface DoseSkippedEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'dose.skipped';
  at: UtcInstant;
  slot: SlotNumber;
  pills: PillsPerDose;
  dueAt?: UtcInstant1;
  occurrenceId?: OccurrenceId;
  commandId?: MessageId1;
}
/**
 * The device saw the window close (dueAt + missedAfterMinutes) without the dose being taken. Unlike the hub's own `missed`, this proves the device was powered and watching, even if it was offline at the time.
 */
export interface DoseMissedEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'dose.missed';
  at: UtcInstant;
  slot: SlotNumber;
  pills: PillsPerDose;
  /**
   * `not_taken`: dispensed but never taken. `dispense_failed`: the device could not dispense (jam or empty slot).
   */
  reason: 'not_taken' | 'dispense_failed';
  dueAt?: UtcInstant1;
  occurrenceId?: OccurrenceId;
  commandId?: MessageId1;
}
/**
 * A slot mechanism jammed. When it happened while dispensing a dose, the dose fields say which one.
 */
export interface DeviceJamEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'device.jam';
  at: UtcInstant;
  slot: SlotNumber;
  dueAt?: UtcInstant1;
  occurrenceId?: OccurrenceId;
  commandId?: MessageId1;
}
/**
 * A tamper sensor fired.
 */
export interface DeviceTamperEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'device.tamper';
  at: UtcInstant;
  /**
   * Which sensor fired: the locked refill lid, the service case, or the tilt sensor (device knocked over).
   */
  sensor: 'lid_open' | 'case_open' | 'tilt';
}
/**
 * A slot fell to or below its refill threshold. Sent once per slot until the slot is refilled above the threshold.
 */
export interface RefillLowEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'refill.low';
  at: UtcInstant;
  slot: SlotNumber;
  pills: PillCount;
  threshold: PillCount1;
}
/**
 * The patient pressed the help button.
 */
export interface HelpRequestedEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'help.requested';
  at: UtcInstant;
}
/**
 * The device booted. Sent once per boot, after the first successful connection.
 */
export interface DeviceRebootEvent {
  eventId: MessageId;
  /**
   * Event type.
   */
  type: 'device.reboot';
  at: UtcInstant;
  /**
   * Why the device booted, as far as it can tell.
   */
  reason: 'power_on' | 'command' | 'watchdog' | 'brownout' | 'firmware_update' | 'unknown';
  firmwareVersion: SemVer;
}
