/* Generated from schemas/intents/confirm_dose.json by scripts/gen-types.ts. Do not edit. */

/**
 * Record that the patient has taken a dose. Use it only when the patient clearly says they took it, never on a guess or a plan to take it later. Without occurrence_id it confirms the dose of that medication that is due now or most recently due.
 */
export interface ConfirmDose {
  /**
   * The medication taken, as named in the plan or by the patient (for example "Metformin").
   */
  medication: string;
  /**
   * The exact dose to confirm, as returned by get_next_dose. Include it when you have it; it must belong to the medication above.
   */
  occurrence_id?: string;
  /**
   * When the patient took it, if they said it was earlier, as an ISO 8601 date-time with offset. Leave it out for "just now".
   */
  taken_at?: string;
}
