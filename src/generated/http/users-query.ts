/* Generated from schemas/http/users-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * The nextCursor of the previous page.
 */
export type Cursor = string;
/**
 * Items per page (at most 200).
 */
export type PageSize = number;
/**
 * What a user may do: admin (their organisation), clinician (every patient of the organisation), caregiver (patients on their care team), patient (themself).
 */
export type Role = 'admin' | 'clinician' | 'caregiver' | 'patient';

/**
 * List users of the organisation.
 */
export interface UsersQuery {
  cursor?: Cursor;
  limit?: PageSize;
  role?: Role;
}
