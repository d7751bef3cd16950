/* Generated from schemas/http/device-command-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * The hub-assigned device id. It is also the MQTT client id and username, and a topic level, so it never holds '/', '+' or '#'.
 */
export type DeviceId = string;

/**
 * A path naming a command of a device.
 */
export interface DeviceCommandParams {
  id: DeviceId;
  commandId: string;
}
