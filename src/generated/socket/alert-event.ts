/* Generated from schemas/socket/alert-event.json by scripts/gen-types.ts. Do not edit. */

/**
 * Server → client `alert:raised` (a new alert) and `alert:updated` (acknowledged, resolved, escalated), in patient:{id} and the organisation's staff room.
 */
export interface AlertEvent {
  id: string;
  organisationId: string;
  patientId: string | null;
  deviceId: string | null;
  type:
    | 'dose.missed'
    | 'dose.late'
    | 'device.offline'
    | 'device.jam'
    | 'device.tamper'
    | 'battery.low'
    | 'refill.low'
    | 'help.requested';
  severity: 'info' | 'warning' | 'critical';
  cause: string;
  status: 'active' | 'acknowledged' | 'resolved';
  raisedAt: string;
  acknowledged: Action | null;
  resolved: Action | null;
  tier: number;
  tierCount: number;
  nextEscalationAt: string | null;
  /**
   * Ids and non-clinical facts only.
   */
  details: {
    [k: string]: string | number | boolean | null | undefined;
  };
  /**
   * Each time a new occurrence of the cause (a second call for help, another jam) made the acknowledged alert active again, oldest first.
   */
  reactivations: Reactivation[];
  /**
   * The alert this one took over from (a dose.missed after the same dose's dose.late), whose tier it started at; null otherwise.
   */
  follows: string | null;
  updatedAt: string | null;
}
export interface Action {
  /**
   * User id, null when the hub did it.
   */
  by: string | null;
  at: string;
  note: string | null;
  /**
   * Resolved by the hub because the cause cleared.
   */
  auto: boolean;
}
export interface Reactivation {
  /**
   * When the hub re-activated the alert.
   */
  at: string;
  /**
   * When the cause happened again (the device event's time).
   */
  occurredAt: string;
  /**
   * The acknowledgement the occurrence lifted.
   */
  acknowledged: Action | null;
  /**
   * The occurrence's ids and non-clinical facts (its eventId, slot…).
   */
  details: {
    [k: string]: string | number | boolean | null | undefined;
  };
}
