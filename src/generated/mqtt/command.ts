/* Generated from schemas/mqtt/command.json by scripts/gen-types.ts. Do not edit. */

/**
 * Something the hub asks the device to do now, on v1/devices/{id}/commands (hub → device, QoS 1, not retained). The broker queues it in the device's persistent session while the device is offline; the device answers on acks with `expired` instead of acting when it receives it after expiresAt. QoS 1 may deliver a command twice: the device acts once per commandId and repeats its ack. `type` selects one branch, and each branch fixes the shape of `params`.
 */
export type DeviceCommand = DispenseNowCommand | RingCommand | SyncTimeCommand | LocateCommand | RebootCommand;
/**
 * Hub-generated id of this command; the ack repeats it.
 */
export type MessageId = string;
/**
 * Hub clock when the command was issued.
 */
export type UtcInstant = string;
/**
 * After this instant (device clock) the device must not act on the command and acks `expired`. The hub keeps it at most 24 h after issuedAt.
 */
export type UtcInstant1 = string;
/**
 * Slot to dispense from.
 */
export type SlotNumber = number;
/**
 * Pills to dispense.
 */
export type PillsPerDose = number;
/**
 * The occurrence this dose makes up for, echoed in the resulting dose events.
 */
export type OccurrenceId = string;
/**
 * Hub clock when the command was sent.
 */
export type UtcInstant2 = string;

/**
 * Dispense a dose from a slot right away (for example when a caregiver decides a missed dose may still be taken). The device emits dose.dispensed with trigger `command`, then dose.taken or dose.missed like any dose.
 */
export interface DispenseNowCommand {
  commandId: MessageId;
  /**
   * Command type.
   */
  type: 'dispense_now';
  issuedAt: UtcInstant;
  expiresAt: UtcInstant1;
  params: DispenseNowParams;
}
/**
 * What to dispense.
 */
export interface DispenseNowParams {
  slot: SlotNumber;
  pills: PillsPerDose;
  occurrenceId?: OccurrenceId;
}
/**
 * Sound the reminder chime now (a caregiver nudging the patient).
 */
export interface RingCommand {
  commandId: MessageId;
  /**
   * Command type.
   */
  type: 'ring';
  issuedAt: UtcInstant;
  expiresAt: UtcInstant1;
  params: RingParams;
}
/**
 * How long to ring.
 */
export interface RingParams {
  /**
   * Ring for this many seconds.
   */
  durationSeconds: number;
}
/**
 * Set the device clock. Sent by the hub when heartbeats show drift; short expiresAt keeps a stale serverTime from being applied.
 */
export interface SyncTimeCommand {
  commandId: MessageId;
  /**
   * Command type.
   */
  type: 'sync_time';
  issuedAt: UtcInstant;
  expiresAt: UtcInstant1;
  params: SyncTimeParams;
}
/**
 * The time to set.
 */
export interface SyncTimeParams {
  serverTime: UtcInstant2;
}
/**
 * Blink the device's light and beep softly so someone can find it.
 */
export interface LocateCommand {
  commandId: MessageId;
  /**
   * Command type.
   */
  type: 'locate';
  issuedAt: UtcInstant;
  expiresAt: UtcInstant1;
  params: LocateParams;
}
/**
 * How long to signal.
 */
export interface LocateParams {
  /**
   * Signal for this many seconds.
   */
  durationSeconds: number;
}
/**
 * Restart the device. It acks `succeeded` first, publishes status offline with reason `reboot`, restarts, and sends device.reboot with reason `command` once connected again.
 */
export interface RebootCommand {
  commandId: MessageId;
  /**
   * Command type.
   */
  type: 'reboot';
  issuedAt: UtcInstant;
  expiresAt: UtcInstant1;
  params: RebootParams;
}
/**
 * When to reboot; `{}` means right away.
 */
export interface RebootParams {
  /**
   * Wait this many seconds before rebooting.
   */
  delaySeconds?: number;
}
