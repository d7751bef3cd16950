/* Generated from schemas/http/plan-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * A patient's medication plan as GET/POST/PUT /patients/{id}/medication-plans answer it.
 */
export interface PlanView {
  id: ObjectId;
  patientId: ObjectId;
  /**
   * The patient's IANA zone the times are read in.
   */
  timezone: string;
  /**
   * Grows by one with every PUT.
   */
  version: number;
  /**
   * Grows with every change to what a PUT replaces: a PUT, and stock taken by a dispense. Send it back in the PUT (or the ETag, which is this number quoted, in If-Match) so that a PUT made from an older read is refused (409) instead of overwriting what changed.
   */
  revision: number;
  windows: {
    earlyMinutes: number;
    lateAfterMinutes: number;
    missedAfterMinutes: number;
  };
  medications: {
    id: string;
    name: string;
    strength: string | null;
    instructions: string | null;
    slot: number;
    pillsPerDose: number;
    /**
     * Pills left in the slot; decremented on dose.dispensed.
     */
    stock: number | null;
    criticality: 'normal' | 'critical';
  }[];
  schedule: {
    id: string;
    medicationId: string;
    times: string[];
    daysOfWeek: number[];
    everyNDays: number | null;
    startDate: string;
    endDate: string | null;
  }[];
  updatedAt: string | null;
}
