/* Generated from schemas/socket/alert-notify.json by scripts/gen-types.ts. Do not edit. */

/**
 * Server → client `alert:notify` to user:{id}: the recipient is asked to look at an alert (`alert.raised`; `alert.reactivated`, an acknowledged alert whose cause happened again; `alert.escalated`), or told it was resolved (`alert.resolved`, a follow-up to whoever was notified). The same message webhooks receive. No clinical detail.
 */
export interface AlertNotification {
  event: 'alert.raised' | 'alert.reactivated' | 'alert.escalated' | 'alert.resolved';
  notificationId: string;
  alertId: string;
  organisationId: string;
  patientId: string | null;
  patientInitials: string | null;
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
  tier: number;
  raisedAt: string;
  link: string;
}
