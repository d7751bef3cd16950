/* Generated from schemas/mqtt/ack.json by scripts/gen-types.ts. Do not edit. */

/**
 * The commandId of the command this answers.
 */
export type MessageId = string;
/**
 * Device clock when the outcome was known.
 */
export type UtcInstant = string;
/**
 * Human-readable detail for logs.
 */
export type ShortText = string;

/**
 * The outcome of one command, on v1/devices/{id}/acks (device → hub, QoS 1, not retained). The device sends exactly one outcome per commandId; if the command is delivered again it repeats the same outcome without acting again. `failed` and `rejected` always carry an `error`.
 */
export interface CommandAck {
  commandId: MessageId;
  /**
   * `succeeded`: done. `failed`: tried and could not (see error). `expired`: received after its expiresAt, not executed. `rejected`: not understood or not allowed (unknown type, bad params), not executed.
   */
  status: 'succeeded' | 'failed' | 'expired' | 'rejected';
  at: UtcInstant;
  error?: CommandAckError;
}
/**
 * Why the command failed or was rejected.
 */
export interface CommandAckError {
  /**
   * Machine-readable reason.
   */
  code: 'slot_empty' | 'jammed' | 'invalid_slot' | 'invalid_params' | 'unsupported' | 'busy' | 'internal';
  message?: ShortText;
}
