/* Generated from schemas/socket/socket-ready.json by scripts/gen-types.ts. Do not edit. */

/**
 * Server → client `socket:ready`, once per connection: the socket is in every room its user may see (its user, its login session, its patients or its organisation's staff room), so events for them reach it from now on; `recovered` is true when it came back within the recovery window and has been sent what it missed. The event also gives socket.io-client a recovery offset: a client that drops afterwards, even one that has received nothing else, recovers within the window.
 */
export interface SocketReady {
  recovered: boolean;
}
