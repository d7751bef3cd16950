/* Generated from schemas/socket/alert-ack.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `alert:ack`; acked with {ok:true, alert} or {ok:false, error}.
 */
export interface AlertAckRequest {
  alertId: ObjectId;
  note?: string;
}
