import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { LanguageModelError, type LanguageModelErrorCode } from '../../language-model.js';

/**
 * Maps whatever the SDK or the network threw to a LanguageModelError. Only the status and the upstream
 * machine code survive; upstream message text (which can echo the prompt) is dropped on purpose.
 */
export function toLanguageModelError(error: unknown, provider: string): LanguageModelError {
  if (error instanceof LanguageModelError) return error;
  if (error instanceof APIUserAbortError) return new LanguageModelError('cancelled', { provider });
  if (error instanceof APIConnectionTimeoutError) return new LanguageModelError('timeout', { provider });
  if (error instanceof APIConnectionError) return new LanguageModelError('upstream_unavailable', { provider });
  if (error instanceof APIError) return fromApiError(error, provider);
  // Mid-body socket loss surfaces from undici as `TypeError: terminated`.
  if (error instanceof TypeError) return new LanguageModelError('upstream_unavailable', { provider, upstreamCode: 'connection_lost' });
  // A chunk that is not JSON.
  if (error instanceof SyntaxError) return new LanguageModelError('upstream_error', { provider, upstreamCode: 'malformed_stream' });
  return new LanguageModelError('upstream_error', { provider });
}

function fromApiError(error: APIError, provider: string): LanguageModelError {
  const upstreamCode = error.code ?? error.type ?? undefined;
  const details = { provider, upstreamCode, ...(error.status !== undefined ? { status: error.status } : {}) };
  // An error payload inside a 200 stream has no status: classify it by its code/type.
  const code = error.status !== undefined ? codeForStatus(error.status) : codeForStreamError(upstreamCode ?? '');
  // A 429 for an exhausted quota will not clear by waiting.
  const retryable = upstreamCode === 'insufficient_quota' ? false : undefined;
  return new LanguageModelError(code, retryable === undefined ? details : { ...details, retryable });
}

function codeForStatus(status: number): LanguageModelErrorCode {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status === 502 || status === 503 || status === 504) return 'upstream_unavailable';
  // 409 is retried by the SDK (lock timeout); if it persists it is the upstream's problem, not ours.
  if (status >= 400 && status < 500 && status !== 409) return 'bad_request';
  return 'upstream_error';
}

function codeForStreamError(code: string): LanguageModelErrorCode {
  if (/rate_limit|tokens_exceeded|requests/i.test(code)) return 'rate_limited';
  if (/invalid_api_key|authentication|permission/i.test(code)) return 'unauthorized';
  if (/invalid_request|context_length|bad_request/i.test(code)) return 'bad_request';
  if (/overloaded|unavailable/i.test(code)) return 'upstream_unavailable';
  if (/timeout/i.test(code)) return 'timeout';
  return 'upstream_error';
}
