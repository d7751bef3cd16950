/**
 * Signed outgoing HTTP for webhooks and gateways. The receiver checks
 *   X-Medhub-Signature: sha256=<hex HMAC-SHA256(secret, `${X-Medhub-Timestamp}.${rawBody}`)>
 * and refuses timestamps older than a few minutes (replay). Signing the
 * timestamp with the body means it cannot be changed without the secret.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AttemptResult } from '../../notifier.js';
import { DESTINATION_NOT_ALLOWED, DestinationNotAllowedError, type DestinationGuard } from './destinations.js';

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
  /** Where the request may connect (destinations.ts); checked on the address connected to. */
  destinations: DestinationGuard;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Seconds since the epoch (the hub's clock). */
  now?: () => number;
}

const REFUSED: AttemptResult = { ok: false, retryable: false, error: DESTINATION_NOT_ALLOWED };

/**
 * One signed POST, to an allowed destination only: any other is refused before connecting
 * (`destination_not_allowed`, not worth retrying). 2xx is success; 408/429/5xx, timeouts and
 * network errors are worth retrying.
 */
export async function signedPost({ url, secret, body, destinations, headers = {}, timeoutMs = 5000, now = () => Math.floor(Date.now() / 1000) }: SignedPostOptions): Promise<AttemptResult> {
  const target = parseTarget(url);
  // An IP literal is connected to without a lookup, so the guard's lookup never sees it: judged
  // here, by the guard's own reading of a URL (the one policies are checked with when written).
  if (!target || destinations.refusesUrl(url)) return REFUSED;
  const raw = JSON.stringify(body);
  const timestamp = now();
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const status = await post(target, destinations, signal, raw, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(raw)),
      'user-agent': 'medhub-notifier',
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: sign(secret, timestamp, raw),
      ...headers,
    });
    if (status >= 200 && status < 300) return { ok: true, retryable: false, statusCode: status };
    const retryable = status >= 500 || status === 408 || status === 429;
    return { ok: false, retryable, statusCode: status, error: `HTTP ${status}` };
  } catch (error) {
    if (error instanceof DestinationNotAllowedError) return REFUSED;
    return { ok: false, retryable: true, error: signal.aborted ? 'timeout' : 'network error' };
  }
}

interface Target {
  url: URL;
  /** The host as the socket sees it: an address without IPv6 brackets, or a name. */
  host: string;
}

/** Only http(s) URLs (the policy schema's rule, checked again for policies stored before it). */
function parseTarget(url: string): Target | null {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
    return { url: parsed, host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') };
  } catch {
    return null;
  }
}

// One agent per guard and scheme, without keep-alive: a socket is never shared with requests made
// without the guard's lookup, and none lingers after a notification (they are rare).
const agents = new WeakMap<DestinationGuard, { http: HttpAgent; https: HttpsAgent }>();
function agentFor(destinations: DestinationGuard, protocol: string): HttpAgent {
  let pair = agents.get(destinations);
  if (!pair) {
    pair = { http: new HttpAgent({ keepAlive: false, lookup: destinations.lookup }), https: new HttpsAgent({ keepAlive: false, lookup: destinations.lookup }) };
    agents.set(destinations, pair);
  }
  return protocol === 'https:' ? pair.https : pair.http;
}

/**
 * The POST itself, answering the status code. node:http rather than fetch: its agent takes the
 * guard's lookup, so the address checked is the address connected to. Redirects are not followed
 * (a 3xx is the answer), and the response body is never read.
 */
function post(target: Target, destinations: DestinationGuard, signal: AbortSignal, raw: string, headers: Record<string, string>): Promise<number> {
  const { url } = target;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(
      { method: 'POST', protocol: url.protocol, hostname: target.host, port: url.port || undefined, path: `${url.pathname}${url.search}`, headers, agent: agentFor(destinations, url.protocol), signal },
      (response: IncomingMessage) => {
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    request.on('error', reject);
    request.end(raw);
  });
}
