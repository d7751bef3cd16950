/* Generated from schemas/http/auth-refresh.json by scripts/gen-types.ts. Do not edit. */

/**
 * Exchange a refresh token for a new token pair (the old refresh token stops working), or end its session.
 */
export interface RefreshRequest {
  /**
   * The refresh token from login or the last refresh.
   */
  refreshToken: string;
}
