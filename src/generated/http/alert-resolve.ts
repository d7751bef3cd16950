/* Generated from schemas/http/alert-resolve.json by scripts/gen-types.ts. Do not edit. */

/**
 * Resolve an alert, with a note saying what was done (seen only inside the hub).
 */
export interface AlertResolve {
  /**
   * What was done.
   */
  note: string;
}
