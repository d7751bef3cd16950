/* Generated from schemas/mqtt/status.json by scripts/gen-types.ts. Do not edit. */

/**
 * Connection state on v1/devices/{id}/status (device → hub, QoS 1, retained). The device publishes `online` once the subscriptions of each new connection are acknowledged (from then on commands reach it, or wait in its persistent session) and registers `offline` with reason `connection_lost` as its Last Will in the same CONNECT. Both carry the same connectionId, so the hub can ignore a late Will from an older connection that arrives after a newer `online`.
 */
export type DeviceStatus = OnlineStatus | OfflineStatus;
/**
 * Fresh id the device chose for this connection; its Last Will carries the same id.
 */
export type MessageId = string;
/**
 * Device clock when it connected.
 */
export type UtcInstant = string;
/**
 * Firmware version running on the device.
 */
export type SemVer = string;
/**
 * Id of the connection that ended (the one announced by the matching `online`).
 */
export type MessageId1 = string;
/**
 * Device clock when it went offline. Absent from a Last Will, which is written at connect time; the hub then uses its receive time.
 */
export type UtcInstant1 = string;

/**
 * The device has just connected.
 */
export interface OnlineStatus {
  /**
   * Connection state.
   */
  state: 'online';
  connectionId: MessageId;
  at: UtcInstant;
  firmwareVersion?: SemVer;
}
/**
 * The device is gone: it said so before disconnecting (`shutdown`, `reboot`), or the broker published its Last Will (`connection_lost`).
 */
export interface OfflineStatus {
  /**
   * Connection state.
   */
  state: 'offline';
  connectionId: MessageId1;
  /**
   * Why the device went offline. A Last Will always says `connection_lost`.
   */
  reason: 'connection_lost' | 'shutdown' | 'reboot';
  at?: UtcInstant1;
}
