/* Generated from schemas/http/dose-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * Occurrences with from <= dueAt < to (default: the last and the next 24 h), in dueAt order.
 */
export interface DoseQuery {
  from?: string;
  to?: string;
  /**
   * Only doses in this state; without it every dose but the cancelled ones.
   */
  state?: 'scheduled' | 'due' | 'taken' | 'late' | 'missed' | 'skipped' | 'unknown' | 'cancelled';
  limit?: number;
}
