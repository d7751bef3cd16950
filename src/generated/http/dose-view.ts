/* Generated from schemas/http/dose-view.json by scripts/gen-types.ts. Do not edit. */

/**
 * The hub's id of one dose occurrence (one planned intake of one slot at one instant).
 */
export type OccurrenceId = string;
/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * One dose occurrence, as GET /patients/{id}/doses lists it, POST …/confirm answers it and the `dose:updated` socket event carries it.
 */
export interface DoseView {
  id: OccurrenceId;
  patientId: ObjectId;
  medicationId: string;
  itemId: string;
  slot: number;
  pills: number;
  critical: boolean;
  dueAt: string;
  /**
   * The local date (patient's zone) the dose belongs to.
   */
  localDate: string;
  window: {
    earlyMinutes: number;
    lateAfterMinutes: number;
    missedAfterMinutes: number;
  };
  /**
   * cancelled: retired by a plan or time-zone change before anything was decided (listed only when asked for by state).
   */
  state: 'scheduled' | 'due' | 'taken' | 'late' | 'missed' | 'skipped' | 'unknown' | 'cancelled';
  takenAt: string | null;
  dispensedAt: string | null;
  /**
   * What set the state: device, confirmation or clock.
   */
  source: string | null;
  /**
   * For missed/unknown: device:<reason>, device_online_no_event, not_confirmed, device_offline.
   */
  evidence: string | null;
  changedAt: string | null;
}
