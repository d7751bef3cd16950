/* Generated from schemas/intents/get_medication_plan.json by scripts/gen-types.ts. Do not edit. */

/**
 * Get the patient's current medication plan: each medication with its strength, the times of day it is taken (patient's local time) and any instructions such as "with food". Use it when the patient asks what they take, or when you need a medication's exact name before another call. Read-only.
 */
export interface GetMedicationPlan {}
