/* Generated from schemas/socket/chat-cancel.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;
/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId1 = string;

/**
 * Client → server `chat:cancel`: stop the answer being written in a conversation. It ends with chat:error (code cancelled) and status cancelled. Acked with {ok:true, cancelled, messageId}.
 */
export interface ChatCancel {
  conversationId: ObjectId;
  messageId?: ObjectId1;
}
