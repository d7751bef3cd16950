/**
 * Language-model failures in the hub's error vocabulary (src/ports/README.md "Errors"). Our request or
 * our key failing upstream is a 502, never a 401 to the caller; a cancelled turn is not an error for
 * the caller, it only ends the answer.
 */
import { AppError, toPublicError, type ErrorCode } from '../../errors.js';
import type { ChatErrorEvent } from '../../generated/socket/chat-error.js';
import { isLanguageModelError, type LanguageModelErrorCode } from '../../ports/language-model.js';

const BY_PORT_CODE: Record<Exclude<LanguageModelErrorCode, 'cancelled'>, ErrorCode> = {
  rate_limited: 'rate_limited',
  upstream_unavailable: 'unavailable',
  timeout: 'upstream_timeout',
  bad_request: 'upstream_error',
  unauthorized: 'upstream_error',
  upstream_error: 'upstream_error',
};

/** What ended an answer, as stored on the message and sent in chat:error / SSE error. */
export interface TurnFailure {
  code: ErrorCode | 'cancelled' | 'interrupted';
  message: string;
  retryable: boolean;
  /** The AppError to throw at a JSON caller (absent for cancelled). */
  appError?: AppError;
  /** Upstream HTTP status, for the LLM request log. */
  upstreamStatus?: number;
  /**
   * A tool of the answer recorded something before it failed: never retryable, and a JSON caller gets
   * the answer (status error) with 200 rather than an error its client would retry.
   */
  acted?: boolean;
}

/** The chat:error event (and SSE `error`) of an answer `failure` ended; `message`: the answer as stored. */
export function chatErrorEvent(conversationId: string, messageId: string, failure: TurnFailure, message: ChatErrorEvent['message']): ChatErrorEvent {
  return { conversationId, messageId, error: { code: failure.code, message: failure.message, retryable: failure.retryable }, message };
}

export const CANCELLED: TurnFailure = { code: 'cancelled', message: 'The answer was cancelled', retryable: false };
export const INTERRUPTED: TurnFailure = {
  code: 'interrupted',
  message: 'The answer was interrupted because the hub stopped',
  retryable: true,
  appError: new AppError('unavailable', 'The hub is shutting down'),
};

export function toTurnFailure(error: unknown): TurnFailure {
  if (isLanguageModelError(error)) {
    if (error.code === 'cancelled') return CANCELLED;
    const code = BY_PORT_CODE[error.code];
    const appError = new AppError(code, error.message, code === 'rate_limited' ? { headers: { 'Retry-After': '10' } } : {});
    // The port's messages are fixed, safe texts; show them even for 5xx (they carry no upstream text).
    return { code, message: error.message, retryable: error.retryable, appError, ...(error.status !== undefined ? { upstreamStatus: error.status } : {}) };
  }
  const problem = toPublicError(error);
  return { code: problem.code, message: problem.message, retryable: false, appError: error instanceof AppError ? error : new AppError('internal') };
}
