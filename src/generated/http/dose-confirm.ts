/* Generated from schemas/http/dose-confirm.json by scripts/gen-types.ts. Do not edit. */

/**
 * A person records a dose taken without the device. takenAt defaults to now; it decides on time or late like a device's dose.taken.
 */
export interface DoseConfirm {
  takenAt?: string;
}
