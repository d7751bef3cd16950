/* Generated from schemas/http/summary-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * Ask for a patient's summary now (POST /patients/{id}/summaries) instead of waiting for the nightly job: of one local day, or of the week (Monday to Sunday) holding `date`. The period must be over. Default: yesterday, or last week.
 */
export interface SummaryCreate {
  period: 'day' | 'week';
  /**
   * A local date (YYYY-MM-DD, the patient's zone) in the period.
   */
  date?: string;
}
