/* Generated from schemas/http/alert-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;
/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * List the alerts the caller may see, newest first; optionally one patient's, optionally by status.
 */
export interface AlertsQuery {
  cursor?: Cursor;
  limit?: PageSize;
  patientId?: ObjectId;
  status?: 'active' | 'acknowledged' | 'resolved';
}
