/* Generated from schemas/http/dose-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;
/**
 * The hub's id of one dose occurrence (one planned intake of one slot at one instant).
 */
export type OccurrenceId = string;

/**
 * A path naming one dose occurrence of a patient.
 */
export interface DoseParams {
  id: ObjectId;
  occurrenceId: OccurrenceId;
}
