/* Generated from schemas/http/devices-query.json by scripts/gen-types.ts. Do not edit. */

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
 * List devices the caller may see.
 */
export interface DevicesQuery {
  cursor?: Cursor;
  limit?: PageSize;
  patientId?: ObjectId;
  online?: boolean;
}
