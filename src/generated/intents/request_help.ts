/* Generated from schemas/intents/request_help.json by scripts/gen-types.ts. Do not edit. */

/**
 * Alert the patient's care team that the patient needs help. Use it when the patient asks for help or for someone to contact them, or describes a fall, a possible overdose, or another situation they cannot handle alone. For an emergency also tell the patient to call their local emergency number now; this alert does not reach emergency services.
 */
export interface RequestHelp {
  /**
   * "emergency": danger to life or health right now (chest pain, trouble breathing, a fall with injury, an overdose). "urgent": needs someone soon today. "routine": a question or request that can wait.
   */
  urgency: 'routine' | 'urgent' | 'emergency';
  /**
   * One or two sentences, in plain words, on what the patient needs and why. The care team reads it.
   */
  reason: string;
}
