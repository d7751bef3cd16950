/* Generated from schemas/http/adherence-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * GET /patients/{id}/adherence: counts per local day and per medication. adherencePercent = (takenOnTime + late) / (scheduled − unknown − pending) × 100, null when the denominator is 0.
 */
export interface AdherenceView {
  patientId: ObjectId;
  timezone: string;
  from: string;
  to: string;
  formula: string;
  total: Counts;
  days: (Counts & {
    date: string;
    medications: (Counts & {
      medicationId: string;
      name: string | null;
    })[];
  })[];
}
export interface Counts {
  scheduled: number;
  takenOnTime: number;
  late: number;
  missed: number;
  skipped: number;
  unknown: number;
  /**
   * Still scheduled or due.
   */
  pending: number;
  adherencePercent: number | null;
}
