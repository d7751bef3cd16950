/* Generated from schemas/http/conversation-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * The conversation id.
 */
export type ObjectId = string;

/**
 * A path naming one conversation.
 */
export interface ConversationParams {
  id: ObjectId;
}
