/* Generated from schemas/http/chat-message.json by scripts/gen-types.ts. Do not edit. */

/**
 * The conversation to write in.
 */
export type ObjectId = string;

/**
 * POST /api/v1/chat/message: add the caller's message to a conversation and get the assistant's answer, streamed as Server-Sent Events (stream: true) or as one JSON reply (stream: false, the default).
 */
export interface ChatMessageRequest {
  conversationId: ObjectId;
  /**
   * What the caller says; at least one non-space character.
   */
  content: string;
  /**
   * true: answer as text/event-stream (session_established, token…, then complete or error). false: wait and answer with JSON.
   */
  stream?: boolean;
}
