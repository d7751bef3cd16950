/* Generated from schemas/socket/auth-expired.json by scripts/gen-types.ts. Do not edit. */

/**
 * Server → client `auth:expired`: the socket's access token expired without an `auth:refresh`. The hub then closes the connection as a dropped transport (reason `transport close` on the client), so socket.io-client reconnects by itself: with an `auth` callback that returns a fresh token, the socket recovers its rooms and the events it missed.
 */
export interface AuthExpired {
  code: 'token_expired';
  message: string;
  expiredAt: string;
}
