/* Generated from schemas/http/summary-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;

/**
 * A patient's summaries, newest first.
 */
export interface SummaryQuery {
  cursor?: Cursor;
  limit?: PageSize;
  period?: 'day' | 'week';
}
