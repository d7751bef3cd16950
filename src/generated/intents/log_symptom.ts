/* Generated from schemas/intents/log_symptom.json by scripts/gen-types.ts. Do not edit. */

/**
 * Record a symptom the patient reports (for example a headache, dizziness or nausea) so their care team can see it. Call it once per symptom, only when the patient describes feeling it, not when they ask about side effects in general. It does not alert anyone: if the patient is in danger or asks for help, call request_help instead or as well.
 */
export interface LogSymptom {
  /**
   * Short name of the symptom in plain words, for example "headache" or "dizziness".
   */
  symptom: string;
  /**
   * How bad it is, from the patient's words. Use "moderate" when they do not say.
   */
  severity: 'mild' | 'moderate' | 'severe';
  /**
   * Optional details the patient gave: when it started, what makes it better or worse. Do not add your own advice here.
   */
  notes?: string;
  /**
   * Optional: when the symptom started, if the patient said, as an ISO 8601 date-time with offset.
   */
  started_at?: string;
}
