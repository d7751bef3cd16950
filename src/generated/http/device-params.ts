/* Generated from schemas/http/device-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * The hub-assigned device id. It is also the MQTT client id and username, and a topic level, so it never holds '/', '+' or '#'.
 */
export type DeviceId = string;

/**
 * A path naming a device.
 */
export interface DeviceParams {
  id: DeviceId;
}
