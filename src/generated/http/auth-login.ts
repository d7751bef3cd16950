/* Generated from schemas/http/auth-login.json by scripts/gen-types.ts. Do not edit. */

/**
 * An email address.
 */
export type Email = string;

/**
 * Sign in with email and password.
 */
export interface LoginRequest {
  email: Email;
  /**
   * The account password.
   */
  password: string;
}
