/* Generated from schemas/http/audit-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;

/**
 * Search the audit log (admins only).
 */
export interface AuditQuery {
  cursor?: Cursor;
  limit?: PageSize;
  objectType?: string;
  objectId?: string;
  actorId?: string;
  outcome?: 'allowed' | 'denied' | 'failed';
}
