/* Generated from schemas/http/help-request-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * The patient asks their care team for help (POST /patients/{id}/help-requests). Raises a help.requested alert that escalates like a press of the dispenser's help button; it does not reach emergency services.
 */
export interface HelpRequestCreate {
  /**
   * routine: a warning alert from the first tier; urgent and emergency: a critical alert told to the first two tiers at once.
   */
  urgency: 'routine' | 'urgent' | 'emergency';
  /**
   * What the patient needs and why; the care team reads it in the report, never in the alert's notifications.
   */
  reason: string;
}
