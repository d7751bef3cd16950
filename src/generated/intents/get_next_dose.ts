/* Generated from schemas/intents/get_next_dose.json by scripts/gen-types.ts. Do not edit. */

/**
 * Look up the patient's next scheduled dose: which medication, how much, and when, in the patient's local time. Use it when the patient asks what to take next, when their next pill is, or whether a dose is due now. Read-only.
 */
export interface GetNextDose {
  /**
   * One medication to ask about, as the patient named it (for example "metformin"). Leave it out to get the next dose of any medication.
   */
  medication?: string;
}
