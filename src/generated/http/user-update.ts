/* Generated from schemas/http/user-update.json by scripts/gen-types.ts. Do not edit. */

/**
 * A name as the person wants it shown: not blank.
 */
export type PersonName = string;
/**
 * What a user may do: admin (their organisation), clinician (every patient of the organisation), caregiver (patients on their care team), patient (themself).
 */
export type Role = 'admin' | 'clinician' | 'caregiver' | 'patient';
/**
 * A password of 12 to 256 characters.
 */
export type NewPassword = string;
/**
 * A phone number in E.164 form, e.g. +33612345678.
 */
export type Phone = string;

/**
 * Change a user (admins only). Disabling ends every session at once.
 */
export interface UserUpdate {
  name?: PersonName;
  role?: Role;
  password?: NewPassword;
  phone?: Phone | null;
  /**
   * A disabled user cannot sign in.
   */
  disabled?: boolean;
}
