/* Generated from schemas/http/care-team-add.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Put a user of the organisation on a patient's care team, or change their relation and priority.
 */
export interface CareTeamAdd {
  userId: ObjectId;
  /**
   * e.g. daughter, nurse, GP.
   */
  relation: string;
  /**
   * Escalation order: 1 is told first.
   */
  priority: number;
}
