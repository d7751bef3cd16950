/* Generated from schemas/http/user-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * An email address.
 */
export type Email = string;
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
 * Required for role patient: the patient record this account belongs to.
 */
export type ObjectId = string;

/**
 * Create a user in the caller's organisation (admins only).
 */
export interface UserCreate {
  email: Email;
  name: PersonName;
  role: Role;
  password: NewPassword;
  phone?: Phone;
  patientId?: ObjectId;
}
