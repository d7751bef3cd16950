/* Generated from schemas/socket/alert-resolve.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `alert:resolve`; acked with {ok:true, alert} or {ok:false, error}.
 */
export interface AlertResolveRequest {
  alertId: ObjectId;
  note: string;
}
