/* Generated from schemas/intents/get_adherence.json by scripts/gen-types.ts. Do not edit. */

/**
 * Count how many scheduled doses the patient took, missed, or has no record of (dispenser offline) over a period. Use it when the patient asks how they are doing, whether they missed doses, or how many pills they took. Doses with no record are unknown, not missed: say so. Read-only.
 */
export interface GetAdherence {
  /**
   * The period to count, in the patient's time zone: "this_week" runs from Monday until now, "last_7_days" covers the 7 days up to now.
   */
  range: 'today' | 'yesterday' | 'this_week' | 'last_7_days' | 'last_30_days';
  /**
   * Restrict the count to one medication, as the patient named it. Leave it out to count all medications.
   */
  medication?: string;
}
