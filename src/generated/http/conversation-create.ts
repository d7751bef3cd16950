/* Generated from schemas/http/conversation-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * The patient the conversation is about.
 */
export type ObjectId = string;

/**
 * POST /api/v1/conversations: start a conversation with the assistant about a patient. The caller needs care access to the patient (the patient themself, their care team, or staff).
 */
export interface ConversationCreate {
  patientId: ObjectId;
  /**
   * A short title shown in conversation lists.
   */
  title?: string;
  /**
   * Where the conversation happens: the app (text), a voice session, or a dispenser.
   */
  channel?: 'app' | 'voice' | 'device';
}
