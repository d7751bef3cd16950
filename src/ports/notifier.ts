/**
 * Notifier: how an alert reaches a person or a system outside the hub. One
 * port, one adapter per channel (Socket.IO built in, signed webhooks, an HTTP
 * SMS/voice gateway). An adapter makes ONE delivery attempt and says whether
 * it is worth retrying; the alerts feature owns retries, backoff and the
 * delivery log, so every attempt of every channel is recorded the same way.
 *
 * Messages carry no clinical detail: the alert type and severity, the
 * patient's initials, ids and a link — never medication names or notes.
 */

export const NOTIFY_CHANNELS = ['socket', 'webhook', 'sms', 'voice'] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

/** What leaves the hub. Every field is an id, an enum or a non-clinical label. */
export interface NotificationMessage {
  /**
   * Why this message is sent: a new alert; an acknowledged alert whose cause happened again (a second
   * call for help) and that needs someone again; an escalation to a later tier; or a follow-up once it is resolved.
   */
  event: 'alert.raised' | 'alert.reactivated' | 'alert.escalated' | 'alert.resolved';
  notificationId: string;
  alertId: string;
  organisationId: string;
  patientId: string | null;
  /** Initials only (e.g. "A. D."), or null for an alert without a patient. */
  patientInitials: string | null;
  type: string;
  severity: string;
  tier: number;
  raisedAt: string;
  /** Where a person with access sees the alert (the REST resource). */
  link: string;
}

/** Where one delivery goes: a user (socket, sms, voice) or an endpoint (webhook, gateway). */
export interface DeliveryTarget {
  userId?: string | null;
  /** E.164 phone for sms/voice. */
  phone?: string | null;
  /** Webhook or gateway URL, and the per-endpoint secret used to sign the body. */
  url?: string | null;
  secret?: string | null;
}

export interface Delivery {
  channel: NotifyChannel;
  target: DeliveryTarget;
  message: NotificationMessage;
  /** 1-based attempt number (sent as a header so receivers can tell retries apart). */
  attempt: number;
}

export interface AttemptResult {
  ok: boolean;
  /** False when trying again cannot help (e.g. a 4xx other than 408/429, no address). */
  retryable: boolean;
  statusCode?: number;
  /** A short reason; never a response body. */
  error?: string;
}

export interface Notifier {
  readonly channel: NotifyChannel;
  /**
   * Done in-process and at once, in one attempt (the built-in socket channel): the alerts feature
   * then records the notification with its outcome in one write instead of recording it pending
   * and its attempt after.
   */
  readonly immediate?: boolean;
  /**
   * True when the hub knows the target cannot receive anything on this channel now (the socket
   * channel: the user has no app connected, nor one that dropped within the recovery window). The
   * notification is then recorded failed, reason `not_connected`, and not sent. Absent, or false
   * when the hub cannot tell (several instances): it is sent.
   */
  unreachable?(target: DeliveryTarget): boolean;
  send(delivery: Delivery): Promise<AttemptResult>;
}
