/* Generated from schemas/socket/chat-error.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Server → client `chat:error` to conversation:{id}, and the SSE `error` event: the answer ended without completing (status error, cancelled or interrupted). message is the answer as stored, with the text shown so far.
 */
export interface ChatErrorEvent {
  conversationId: ObjectId;
  messageId: ObjectId;
  error: {
    /**
     * cancelled; interrupted (the hub writing the answer stopped, or the answer went silent past the stale limit); or one of the hub's error codes: rate_limited, unavailable, upstream_timeout, upstream_error, internal.
     */
    code: string;
    message: string;
    /**
     * Sending the message again later may succeed.
     */
    retryable: boolean;
  };
  message: ChatMessageView;
}
/**
 * A message of a conversation: what a user wrote, or the assistant's answer (complete, still streaming, failed or cancelled).
 */
export interface ChatMessageView {
  id: ObjectId;
  conversationId: ObjectId;
  role: 'user' | 'assistant';
  /**
   * The text. For a streaming answer, the text of its first `tokens` token events (saved about once a second).
   */
  content: string;
  /**
   * User messages are always complete. An assistant answer is streaming until it ends complete, error (the language model failed; content keeps what was shown) or cancelled.
   */
  status: 'streaming' | 'complete' | 'error' | 'cancelled';
  /**
   * The user who wrote it; null for the assistant.
   */
  authorId: ObjectId | null;
  /**
   * For an answer, the user message it answers.
   */
  replyTo: ObjectId | null;
  /**
   * The model that wrote the answer, e.g. gpt-4o-mini or medhub-offline-1.
   */
  model: string | null;
  /**
   * openai (or another OpenAI-compatible server) or offline.
   */
  provider: string | null;
  /**
   * True when the deterministic offline assistant answered (no language model configured); show it.
   */
  offline: boolean;
  /**
   * How many token events the content holds. A client catching up applies live chat:token events whose index is >= tokens.
   */
  tokens: number;
  /**
   * Token counts reported by the language model, summed over tool rounds; null when it reported none.
   */
  usage: null | {
    promptTokens: number;
    completionTokens: number;
    totalTokens: number;
  };
  /**
   * For answers: when it started and how long it took; null for user messages.
   */
  timing: null | {
    startedAt: string;
    /**
     * From the start of the turn to its first token.
     */
    firstTokenMs: number | null;
    /**
     * From the start of the turn to its end.
     */
    totalMs: number | null;
    completedAt: string | null;
  };
  /**
   * Assistant tools the answer used, in order; run with the permissions of the user who asked.
   *
   * @maxItems 32
   */
  toolCalls: {
    id: string;
    name: string;
    ok: boolean;
    /**
     * Why the call failed (unknown_tool, invalid_json, invalid_arguments, not_found, forbidden, failed).
     */
    errorCode: string | null;
  }[];
  /**
   * Why the answer ended with status error or cancelled.
   */
  error: null | MessageError;
  createdAt: string;
}
/**
 * Why an answer failed. code is one of the hub's error codes (rate_limited, unavailable, upstream_timeout, upstream_error, internal…), cancelled, or interrupted (the hub stopped while it streamed).
 */
export interface MessageError {
  code: string;
  message: string;
}
