/**
 * Signed outgoing HTTP for webhooks and gateways. The receiver checks
 *   X-Medhub-Signature: sha256=<hex HMAC-SHA256(secret, `${X-Medhub-Timestamp}.${rawBody}`)>
 * and refuses timestamps older than a few minutes (replay). Signing the
 * timestamp with the body means it cannot be changed without the secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AttemptResult } from '../../notifier.js';

export const SIGNATURE_HEADER = 'x-medhub-signature';
export const TIMESTAMP_HEADER = 'x-medhub-timestamp';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers (and tests): true when the signature matches and the timestamp is fresh. */
export function verifySignature(secret: string, headers: { signature: string | undefined; timestamp: string | undefined }, body: string, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): boolean {
  const timestamp = Number(headers.timestamp);
  if (!headers.signature || !Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface SignedPostOptions {
  url: string;
  secret: string;
  body: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Seconds since the epoch (the hub's clock). */
  now?: () => number;
}

/** One signed POST; 2xx is success, 408/429/5xx and network errors are worth retrying. */
export async function signedPost({ url, secret, body, headers = {}, timeoutMs = 5000, now = () => Math.floor(Date.now() / 1000) }: SignedPostOptions): Promise<AttemptResult> {
  const raw = JSON.stringify(body);
  const timestamp = now();
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'medhub-notifier', [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: sign(secret, timestamp, raw), ...headers },
      body: raw,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return { ok: true, retryable: false, statusCode: response.status };
    const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
    return { ok: false, retryable, statusCode: response.status, error: `HTTP ${response.status}` };
  } catch (error) {
    const name = (error as Error).name;
    return { ok: false, retryable: true, error: name === 'TimeoutError' ? 'timeout' : 'network error' };
  }
}
