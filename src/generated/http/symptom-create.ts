/* Generated from schemas/http/symptom-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * A symptom the patient reports (POST /patients/{id}/symptoms), for their care team to see. It alerts nobody: for help, POST a help request.
 */
export interface SymptomCreate {
  /**
   * The symptom in plain words, e.g. headache.
   */
  symptom: string;
  severity: 'mild' | 'moderate' | 'severe';
  notes?: string;
  startedAt?: string;
}
