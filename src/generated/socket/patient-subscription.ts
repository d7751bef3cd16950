/* Generated from schemas/socket/patient-subscription.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * Client → server `patient:subscribe` / `patient:unsubscribe`: start or stop receiving a patient's live events (room patient:{id}). Acked with {ok:true, room} or {ok:false, error}.
 */
export interface PatientSubscription {
  patientId: ObjectId;
}
