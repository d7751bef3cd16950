/* Generated from schemas/socket/chat-send.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `chat:send`: write in a conversation; the answer streams to room conversation:{id} as chat:started, chat:token…, then chat:complete or chat:error. The sending socket joins the room. Acked with {ok:true, conversationId, userMessageId, messageId} or {ok:false, error}.
 */
export interface ChatSend {
  conversationId: ObjectId;
  /**
   * What the caller says.
   */
  content: string;
}
