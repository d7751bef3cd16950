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
