/* Generated from schemas/socket/auth-refresh.json by scripts/gen-types.ts. Do not edit. */

/**
 * Client → server `auth:refresh`: a newer access token of the same user and login session (from POST /auth/refresh), sent before the socket's token expires. Acked with {ok:true, expiresAt} or {ok:false, error} (token_expired, unauthenticated, forbidden when the token is another user's or session's); the socket keeps its token until then.
 */
export interface AuthRefresh {
  token: string;
}
