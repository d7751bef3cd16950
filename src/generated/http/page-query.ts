/* Generated from schemas/http/page-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;

/**
 * Cursor pagination.
 */
export interface PageQuery {
  cursor?: Cursor;
  limit?: PageSize;
}
