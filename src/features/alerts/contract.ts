/**
 * What other features may ask of the alerts feature. Written before both the
 * alerts and the doses features so that they can be built side by side; the
 * alerts feature implements it, doses/devices call it.
 */

export const ALERT_TYPES = [
  'dose.missed',
  'dose.late',
  'device.offline',
  'device.jam',
  'device.tamper',
  'battery.low',
  'refill.low',
  'help.requested',
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const ALERT_STATUSES = ['active', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export interface RaiseAlert {
  organisationId: string;
  patientId: string | null;
  deviceId?: string | null;
  type: AlertType;
  /** Defaults per type (help.requested and a critical medication's dose.missed are critical). */
  severity?: AlertSeverity;
  /**
   * The cause, e.g. `dose.missed:<occurrenceId>` or `device.offline:<deviceId>`. At most one
   * alert per cause is open (active or acknowledged): raising it again returns the open one.
   * `<type>:<subject>`: a dose.missed finds the same subject's dose.late it takes over from.
   */
  cause: string;
  /** Start escalation at this tier (0-based) instead of the first, e.g. for help.requested. */
  startTier?: number;
  /** Ids and non-clinical facts only (occurrenceId, slot, dueAt); never free text from patients. */
  details?: Record<string, string | number | boolean | null>;
  at?: Date;
}

export interface AlertRef {
  id: string;
  cause: string;
  status: AlertStatus;
}

export interface AlertsApi {
  /**
   * Opens an alert for a cause, or returns the one already open — re-activated first when it is an
   * acknowledged help.requested or device.jam and this is a new occurrence (docs/ALERTS.md).
   */
  raise(alert: RaiseAlert): Promise<AlertRef>;
  /**
   * `raise` for many causes at once, with a number of store round trips that does not grow with
   * the count (a sweep that finds thousands of missed doses). Answers one ref per input, in order;
   * inputs repeating a cause get the ref of the first. If some alerts cannot be stored it rejects,
   * after the others are fully raised (published, escalation started): raising again is harmless.
   */
  raiseMany(alerts: RaiseAlert[]): Promise<AlertRef[]>;
  /** Resolves the open alert of a cause because the cause cleared (e.g. a late dose was taken). */
  resolveCause(cause: string, note: string): Promise<AlertRef | null>;
  /** `resolveCause` for many causes at once (a sweep's), with a number of store round trips that does not grow with the count. Answers the alerts it resolved. */
  resolveCauses(causes: string[], note: string): Promise<AlertRef[]>;
}
