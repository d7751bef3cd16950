/**
 * Which MQTT session is each device's, and when a device's presence starts and ends, from the
 * broker's events. A session's end is not always its device's:
 *
 *  - **Takeover.** A device that connects again while the broker still holds its previous session
 *    (it noticed a dead connection first) replaces it: Aedes closes the old session (publishing its
 *    Last Will) as it registers the new one. Announcing that end would show caregivers an offline
 *    flap and raise device.offline. It is held back while the newer session gets ready, and
 *    announced only if that one fails first.
 *  - **Moved.** With clustered brokers, a device that connects to another instance ends its session
 *    here; that instance announces it online (`moved`).
 *  - **Cut off.** A session the hub ends itself (device disabled, secret rotated) always ends presence.
 *
 * Aedes removes a closing client from its table by id, whichever client holds it, so a session that
 * fails before it is registered may get no `clientDisconnect` (or one meant for another): a session
 * being waited on is watched through its connection instead.
 */
import { finished } from 'node:stream';
import type { Client } from 'aedes';
import type { MqttPrincipal } from './policy.js';

type Announce = (principal: MqttPrincipal, online: boolean) => void;

interface HeldBack {
  principal: MqttPrincipal;
  /** The newer session whose readiness makes the held-back end a takeover. */
  waitingOn: Client;
}

export function createSessionTracker(announce: Announce) {
  /** Each device's current session here, from its clientReady. */
  const current = new Map<string, Client>();
  /** Each device's newest authenticated session not yet ready. */
  const connecting = new Map<string, Client>();
  /** Ends not announced because a newer session was taking over. */
  const heldBack = new Map<string, HeldBack>();
  const ready = new WeakSet<Client>();
  const moved = new WeakSet<Client>();
  const cutOff = new WeakSet<Client>();

  const newerThan = (deviceId: string, client: Client): Client | undefined => {
    const newer = connecting.get(deviceId);
    return newer && newer !== client && !newer.closed ? newer : undefined;
  };

  /** A session that never got ready closed (with or without a clientDisconnect). */
  function failedBeforeReady(client: Client, principal: MqttPrincipal): void {
    const { deviceId } = principal;
    if (ready.has(client)) return;
    if (connecting.get(deviceId) === client) connecting.delete(deviceId);
    const held = heldBack.get(deviceId);
    if (held?.waitingOn !== client) return;
    const newer = newerThan(deviceId, client);
    if (newer) {
      held.waitingOn = newer;
      return;
    }
    heldBack.delete(deviceId);
    if (!current.has(deviceId)) announce(held.principal, false);
  }

  return {
    /** Credentials accepted: the session may be about to replace the device's current one. */
    authenticated(client: Client, principal: MqttPrincipal): void {
      if (client.closed) return;
      connecting.set(principal.deviceId, client);
      finished(client.conn, () => failedBeforeReady(client, principal));
    },

    /** clientReady: the device's session now. */
    ready(client: Client, principal: MqttPrincipal): void {
      // Aedes finishes a CONNECT whose connection closed meanwhile: that session never was.
      if (client.closed) return failedBeforeReady(client, principal);
      const { deviceId } = principal;
      if (connecting.get(deviceId) === client) connecting.delete(deviceId);
      if (heldBack.get(deviceId)?.waitingOn === client) heldBack.delete(deviceId);
      current.set(deviceId, client);
      ready.add(client);
      announce(principal, true);
    },

    /** clientDisconnect. */
    ended(client: Client, principal: MqttPrincipal): void {
      const { deviceId } = principal;
      if (connecting.get(deviceId) === client) connecting.delete(deviceId);
      const now = current.get(deviceId);
      if (now === client) current.delete(deviceId);
      // An older session, already replaced (a newer one is current), or not the device's at all.
      else if (now !== undefined || ready.has(client)) return;
      if (heldBack.get(deviceId)?.waitingOn === client) heldBack.delete(deviceId);
      if (!cutOff.has(client)) {
        if (moved.has(client)) return;
        const newer = newerThan(deviceId, client);
        if (newer) {
          heldBack.set(deviceId, { principal, waitingOn: newer });
          return;
        }
      }
      announce(principal, false);
    },

    /** The session ends because its device connected to another instance (which announces it). */
    moved(client: Client): void {
      moved.add(client);
    },

    /** The device's sessions here, current first, marked so that their end is announced: the hub ends them. */
    cutOff(deviceId: string): Client[] {
      const sessions = [current.get(deviceId), connecting.get(deviceId)].filter((client): client is Client => client !== undefined);
      for (const client of sessions) cutOff.add(client);
      return sessions;
    },

    /** Whether the session got ready (it was the device's session here at some point). */
    wasReady(client: Client): boolean {
      return ready.has(client);
    },

    isConnected(deviceId: string): boolean {
      return current.has(deviceId);
    },
  };
}

export type SessionTracker = ReturnType<typeof createSessionTracker>;
