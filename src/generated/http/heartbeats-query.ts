/* Generated from schemas/http/heartbeats-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * Heartbeat history in a time range, newest first.
 */
export interface HeartbeatsQuery {
  from?: string;
  to?: string;
  limit?: number;
}
