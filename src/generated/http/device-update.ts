/* Generated from schemas/http/device-update.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Rename, assign or unassign (patientId null), disable or re-enable a device. Disabling disconnects it at once.
 */
export interface DeviceUpdate {
  name?: string | null;
  /**
   * Assign to a patient, or null to unassign.
   */
  patientId?: ObjectId | null;
  disabled?: boolean;
  heartbeatTimeoutSeconds?: number;
}
