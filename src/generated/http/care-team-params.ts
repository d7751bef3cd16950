/* Generated from schemas/http/care-team-params.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * A patient and a member of their care team.
 */
export interface CareTeamParams {
  id: ObjectId;
  userId: ObjectId;
}
