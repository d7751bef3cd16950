/* Generated from schemas/http/voice-session-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Start a voice session about a patient (POST /voice/sessions): the caller gets a short-lived Deepgram token and the agent's Settings, and relays the agent's function calls to the hub.
 */
export interface VoiceSessionCreate {
  patientId: ObjectId;
}
