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
