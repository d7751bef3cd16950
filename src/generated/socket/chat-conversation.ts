/* Generated from schemas/socket/chat-conversation.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `conversation:join` / `conversation:leave`: start or stop watching a conversation (room conversation:{id}). join is acked with {ok:true, room, conversation, streaming} where streaming is null or the answer being written {messageId, content, tokens}; apply chat:token events whose index >= tokens.
 */
export interface ChatConversation {
  conversationId: ObjectId;
}
