/* Generated from schemas/socket/voice-intent.json by scripts/gen-types.ts. Do not edit. */

/**
 * Server → client `voice:intent`, to everyone who may see the patient: a voice session ran one of the assistant's functions (confirm_dose, log_symptom, request_help, or a look-up) and how it went. Ids and outcome only: what it recorded arrives as its own event (dose:updated, report:created, alert:raised).
 */
export interface VoiceIntent {
  sessionId: string;
  patientId: string;
  /**
   * Who is talking to the agent.
   */
  userId: string;
  /**
   * Deepgram's function call id.
   */
  callId: string;
  name: string;
  ok: boolean;
  errorCode: string | null;
  at: string;
}
