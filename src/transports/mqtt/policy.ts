/**
 * Who may connect to the broker and what they may touch. Policy is injected
 * into Aedes as functions (the Aedes way); features supply the authenticator
 * (devices check an id + secret). With no authenticator registered every
 * connection is refused: the broker is closed by default, never open.
 */
import { AppError } from '../../errors.js';

export interface MqttPrincipal {
  kind: 'device';
  deviceId: string;
  organisationId?: string;
  patientId?: string | null;
}

export interface ConnectRequest {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  remoteAddress: string | undefined;
}

/** Resolves the principal, or throws AppError: invalid_credentials → CONNACK 4, rate_limited/unavailable → 3, else 5. */
export type MqttAuthenticator = (request: ConnectRequest) => Promise<MqttPrincipal>;

export const refuseEveryone: MqttAuthenticator = async () => {
  throw new AppError('forbidden', 'No MQTT authenticator is configured');
};

/** CONNACK return codes, MQTT 3.1.1 §3.2.2.3. */
export const CONNACK = { identifierRejected: 2, serverUnavailable: 3, badCredentials: 4, notAuthorized: 5 } as const;

export function connackCodeFor(error: unknown): number {
  if (!(error instanceof AppError)) return CONNACK.serverUnavailable;
  switch (error.code) {
    case 'invalid_credentials':
    case 'unauthenticated':
      return CONNACK.badCredentials;
    case 'rate_limited':
    case 'unavailable':
      return CONNACK.serverUnavailable;
    case 'validation_failed':
      return CONNACK.identifierRejected;
    default:
      return CONNACK.notAuthorized;
  }
}

export const deviceNamespace = (deviceId: string): string => `v1/devices/${deviceId}/`;

/**
 * A device may publish and subscribe only under its own `v1/devices/{id}/`.
 * Wildcards are allowed inside that namespace only, never across it
 * (`v1/devices/+/…` or `#` would reach other devices).
 */
export function isWithinOwnNamespace(principal: MqttPrincipal, topicOrFilter: string): boolean {
  return isOwnTopic(principal.deviceId, topicOrFilter);
}

/** Whether a topic or filter lies inside the device's own `v1/devices/{id}/` (not the bare prefix). */
export function isOwnTopic(deviceId: string, topicOrFilter: string): boolean {
  const prefix = deviceNamespace(deviceId);
  return topicOrFilter.startsWith(prefix) && topicOrFilter.length > prefix.length;
}
