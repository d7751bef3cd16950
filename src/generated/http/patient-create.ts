/* Generated from schemas/http/patient-create.json by scripts/gen-types.ts. Do not edit. */

/**
 * A name as the person wants it shown: not blank.
 */
export type PersonName = string;
/**
 * A phone number in E.164 form, e.g. +33612345678.
 */
export type Phone = string;
/**
 * An email address.
 */
export type Email = string;

/**
 * Register a patient in the caller's organisation (admins and clinicians).
 */
export interface PatientCreate {
  name: PersonName;
  /**
   * IANA time zone the patient lives in, e.g. Europe/Paris; schedules follow it across DST changes.
   */
  timezone: string;
  /**
   * YYYY-MM-DD.
   */
  dateOfBirth?: string;
  /**
   * @maxItems 10
   */
  contacts?: Contact[];
  /**
   * Free notes for the care team.
   */
  notes?: string;
}
/**
 * Someone to reach about the patient.
 */
export interface Contact {
  name: PersonName;
  /**
   * e.g. daughter, neighbour, GP.
   */
  relation?: string;
  phone?: Phone;
  email?: Email;
}
