/* Generated from schemas/http/id-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * A path with one id.
 */
export interface IdParams {
  id: ObjectId;
}
