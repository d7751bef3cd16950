/* Generated from schemas/http/common.json by scripts/gen-types.ts. Do not edit. */

/**
 * Definitions shared by the REST API schemas.
 */
export interface HttpCommon {
  [k: string]: unknown | undefined;
}
