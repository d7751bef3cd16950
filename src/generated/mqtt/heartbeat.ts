/* Generated from schemas/mqtt/heartbeat.json by scripts/gen-types.ts. Do not edit. */

/**
 * Device clock when the heartbeat was taken (UTC). The hub compares it with its own clock to detect clock drift.
 */
export type UtcInstant = string;
/**
 * Firmware version running on the device.
 */
export type SemVer = string;
/**
 * Version of the schedule the device is following (0 when it has none). The hub compares it with the version it published to know whether the device is in sync.
 */
export type ScheduleVersion = number;
/**
 * The slot.
 */
export type SlotNumber = number;
/**
 * Pills left in the slot.
 */
export type PillCount = number;

/**
 * Periodic device health report on v1/devices/{id}/heartbeat (device → hub, QoS 0, not retained). Losing one is harmless: the next one carries the full state, so heartbeats are never queued while offline.
 */
export interface DeviceHeartbeat {
  at: UtcInstant;
  /**
   * Battery charge in percent.
   */
  batteryPercent: number;
  /**
   * Received signal strength of the network link in dBm (0 is strongest, -120 is about unusable).
   */
  rssiDbm: number;
  firmwareVersion: SemVer;
  /**
   * Seconds since the device last booted.
   */
  uptimeSeconds: number;
  appliedScheduleVersion: ScheduleVersion;
  /**
   * Fill level of every slot the device has, one entry per slot.
   *
   * @minItems 0
   * @maxItems 64
   */
  slots: SlotFillLevel[];
}
/**
 * How many pills one slot holds.
 */
export interface SlotFillLevel {
  slot: SlotNumber;
  pills: PillCount;
}
