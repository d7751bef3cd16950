/* Generated from schemas/http/device-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * The patient the device serves.
 */
export type ObjectId = string;

/**
 * Provision a dispenser (admins and clinicians). The answer holds its secret, shown once.
 */
export interface DeviceCreate {
  /**
   * The serial number printed on the device; unique in the organisation.
   */
  serial: string;
  /**
   * A friendly name, e.g. "Kitchen dispenser".
   */
  name?: string;
  patientId?: ObjectId;
  /**
   * Silence longer than this marks the device offline (default 180).
   */
  heartbeatTimeoutSeconds?: number;
}
