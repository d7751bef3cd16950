/**
 * One error vocabulary for the whole hub (after Fastify's lib/errors.js and
 * Koa's `status`/`expose`). Features throw AppError with a code from this
 * registry; each transport maps it to its own shape: problem+json on HTTP, an
 * ack `{ok:false, error}` on Socket.IO, a message on `v1/devices/{id}/errors`
 * over MQTT. Anything that is not an AppError is an internal error whose
 * details never leave the process.
 */

export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  invalid_json: { status: 400, title: 'The payload is not valid JSON' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  invalid_credentials: { status: 401, title: 'The credentials are not valid' },
  token_expired: { status: 401, title: 'The token has expired' },
  forbidden: { status: 403, title: 'This action is not allowed' },
  not_found: { status: 404, title: 'The resource was not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'The request conflicts with the current state' },
  gone: { status: 410, title: 'The resource is no longer available' },
  payload_too_large: { status: 413, title: 'The payload is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  /** An Idempotency-Key sent again with another method, path or body (draft-ietf-httpapi-idempotency-key-header). */
  idempotency_key_reused: { status: 422, title: 'The idempotency key was used for another request' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  not_implemented: { status: 501, title: 'Not implemented' },
  upstream_error: { status: 502, title: 'An upstream service failed' },
  unavailable: { status: 503, title: 'The service is unavailable' },
  upstream_timeout: { status: 504, title: 'An upstream service timed out' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A field-level problem, e.g. from schema validation. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export interface AppErrorOptions {
  details?: ErrorDetail[];
  cause?: unknown;
  /** Extra headers an HTTP transport should set (e.g. Retry-After). */
  headers?: Record<string, string>;
  /** Show the message although the status is 5xx: it was written for the caller and holds no internals. */
  expose?: boolean;
}

export class AppError extends Error {
  readonly status: number;
  /** Whether the message may be shown to the caller; false for 5xx. */
  readonly expose: boolean;
  readonly details: ErrorDetail[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].title,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.status = ERROR_CODES[code].status;
    this.expose = options.expose ?? this.status < 500;
    this.details = options.details;
    this.headers = options.headers;
  }
}

/** What a transport may show a caller about any thrown value. */
export interface PublicError {
  code: ErrorCode;
  status: number;
  title: string;
  message: string;
  details?: ErrorDetail[];
}

/** Turns anything thrown into what a caller may see; internals never leak. */
export function toPublicError(error: unknown): PublicError {
  const appError = error instanceof AppError ? error : undefined;
  const code: ErrorCode = appError?.code ?? 'internal';
  const { status, title } = ERROR_CODES[code];
  const message = appError?.expose ? appError.message : title;
  return { code, status, title, message, ...(appError?.details ? { details: appError.details } : {}) };
}

export const notFound = (what: string): AppError => new AppError('not_found', `${what} not found`);
export const forbidden = (message?: string): AppError => new AppError('forbidden', message);
