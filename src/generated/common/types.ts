/* Generated from schemas/common/types.json by scripts/gen-types.ts. Do not edit. */

/**
 * Small shared building blocks for medhub wire formats. Every other schema refers to these by relative $ref so a bound changes in one place.
 */
export interface CommonTypes {
  [k: string]: unknown | undefined;
}
