/* Generated from schemas/http/adherence-query.json by scripts/gen-types.ts. Do not edit. */

/**
 * Local dates in the patient's zone, both inclusive (default: the last 7 days up to today).
 */
export interface AdherenceQuery {
  from?: string;
  to?: string;
}
