/* Generated from schemas/http/device-command.json by scripts/gen-types.ts. Do not edit. */

/**
 * Ask a device to do something now. Delivered when the device is (or comes back) online, until ttlSeconds passes.
 */
export interface DeviceCommandRequest {
  /**
   * What to do.
   */
  type: 'dispense_now' | 'ring' | 'sync_time' | 'locate' | 'reboot';
  /**
   * Parameters of the command type, as schemas/mqtt/command.json defines them.
   */
  params?: {};
  /**
   * How long the command stays valid.
   */
  ttlSeconds?: number;
}
