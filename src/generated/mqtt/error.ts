/* Generated from schemas/mqtt/error.json by scripts/gen-types.ts. Do not edit. */

/**
 * Human-readable summary for device logs.
 */
export type ShortText = string;
/**
 * Hub clock when the message was refused.
 */
export type UtcInstant = string;
/**
 * What is wrong.
 */
export type ShortText1 = string;

/**
 * Why the hub refused something the device published, on v1/devices/{id}/errors (hub → device, QoS 1, not retained). MQTT 3.1.1 has no negative PUBACK, so the hub PUBACKs a QoS 1 message it will never accept (bad JSON, schema violation…) to stop endless resends, and says why here; nothing of it is stored. A message the hub could not handle for a passing reason is not PUBACKed (the connection is closed instead), so the device resends it from its outbox.
 */
export interface DeviceError {
  ref: DeviceErrorRef;
  /**
   * Machine-readable reason. `invalid_json`: not UTF-8 JSON. `schema_violation`: JSON that breaks the topic's schema (see details). `payload_too_large`: over the hub's size limit. `rate_limited`: too many messages; the hub dropped this one. `forbidden_topic`: the device may no longer send (unknown to the hub, or disabled); the hub ends its connection after this reply. `unknown_command`: an ack for a commandId the hub never sent to this device. `internal`: the hub failed. Only `rate_limited` and `internal` are transient: sending the same message later may succeed.
   */
  code:
    | 'invalid_json'
    | 'schema_violation'
    | 'payload_too_large'
    | 'rate_limited'
    | 'forbidden_topic'
    | 'unknown_command'
    | 'internal';
  message: ShortText;
  at: UtcInstant;
  /**
   * For schema_violation: the first validation errors (at most 10).
   *
   * @minItems 1
   * @maxItems 10
   */
  details?: [DeviceErrorDetail, ...DeviceErrorDetail[]];
}
/**
 * What was refused.
 */
export interface DeviceErrorRef {
  /**
   * The topic the refused message was published on.
   */
  topic: string;
  /**
   * The refused message's eventId as received (possibly invalid), cut to 128 characters.
   */
  eventId?: string;
  /**
   * The refused ack's commandId as received (possibly invalid), cut to 128 characters.
   */
  commandId?: string;
}
/**
 * One validation error, trimmed from ajv's output.
 */
export interface DeviceErrorDetail {
  /**
   * JSON Pointer to the offending value, or to the missing property; '/' stands for the whole payload.
   */
  path: string;
  /**
   * The JSON Schema keyword that failed (required, enum, maximum…).
   */
  keyword?: string;
  message: ShortText1;
}
