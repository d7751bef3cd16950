/* Generated from schemas/socket/chat-token.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Server → client `chat:token` to conversation:{id}, and the SSE `token` event: the next piece of the answer. index counts from 0 without gaps; the answer's text is the deltas in index order.
 */
export interface ChatToken {
  conversationId: ObjectId;
  messageId: ObjectId;
  index: number;
  /**
   * Text to append.
   */
  delta: string;
}
