/**
 * SMS and voice calls through any provider, behind a small HTTP gateway: the
 * hub POSTs `{channel, to, text, message}` (signed like webhooks) to the URL
 * the policy names, and the gateway talks to Twilio, Vonage, a WhatsApp
 * provider… The text is generic: alert type and the patient's initials, and
 * says whether it pages someone or follows up a resolution (`messageText`).
 */
import type { Clock } from '../../clock.js';
import type { Delivery, NotificationMessage, Notifier, NotifyChannel } from '../../notifier.js';
import type { DestinationGuard } from './destinations.js';
import { signedPost } from './signing.js';

const LABELS: Record<string, string> = {
  'dose.missed': 'a missed dose',
  'dose.late': 'a late dose',
  'device.offline': 'a dispenser offline',
  'device.jam': 'a dispenser jam',
  'device.tamper': 'a dispenser tamper alarm',
  'battery.low': 'a low dispenser battery',
  'refill.low': 'a dispenser needing a refill',
  'help.requested': 'a call for help',
};

/** A sentence ending in one full stop: initials already end in one ("A. M."). */
const sentence = (text: string): string => (text.endsWith('.') ? text : `${text}.`);

/**
 * A short text with no clinical detail: the alert kind and the patient's initials. The hub's own
 * words are plain ASCII (no dash), so that an SMS is not sent as UCS-2 for them (70 characters a
 * segment instead of 160).
 *
 * - A resolution follow-up (`alert.resolved`: the dose was taken late, someone handled the call
 *   for help) says it is over and asks for nothing, whatever the alert's severity: it must never
 *   read like a new page.
 * - Anything else is a page (new, re-activated or escalated): urgent when critical, and asks to
 *   acknowledge.
 */
export function messageText(message: NotificationMessage): string {
  const who = message.patientInitials ? ` for ${message.patientInitials}` : '';
  const what = LABELS[message.type] ?? 'an alert';
  if (message.event === 'alert.resolved') return `medhub: resolved: ${what}${who}, no action needed (alert ${message.alertId}).`;
  // An acknowledged alert whose cause happened again: the reader must not take it for the one already handled.
  const again = message.event === 'alert.reactivated' ? ', again' : '';
  return `medhub: ${sentence(`${message.severity === 'critical' ? 'URGENT ' : ''}${what}${who}${again}`)} Open medhub to acknowledge (alert ${message.alertId}).`;
}

/** `destinations`: where the gateway may be (a policy's URL is written by a clinician, not the operator). */
export function createHttpGatewayNotifier(channel: Extract<NotifyChannel, 'sms' | 'voice'>, clock: Clock, destinations: DestinationGuard, timeoutMs = 5000): Notifier {
  return {
    channel,
    async send({ target, message, attempt }: Delivery) {
      if (!target.url || !target.secret) return { ok: false, retryable: false, error: `no ${channel} gateway configured` };
      if (!target.phone) return { ok: false, retryable: false, error: 'recipient has no phone' };
      return signedPost({
        url: target.url,
        secret: target.secret,
        body: { channel, to: target.phone, text: messageText(message), message },
        destinations,
        timeoutMs,
        headers: { 'x-medhub-event': message.event, 'x-medhub-delivery': message.notificationId, 'x-medhub-attempt': String(attempt) },
        now: () => Math.floor(clock.now().getTime() / 1000),
      });
    },
  };
}
