/* Generated from schemas/http/report-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;

/**
 * A patient's reports (symptoms and help requests), newest first.
 */
export interface ReportQuery {
  cursor?: Cursor;
  limit?: PageSize;
  kind?: 'symptom' | 'help';
}
