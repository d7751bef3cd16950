/** Signed webhooks: POST the message as JSON to the policy's endpoint, signed with its secret. */
import type { Clock } from '../../clock.js';
import type { Delivery, Notifier } from '../../notifier.js';
import { signedPost } from './signing.js';

export function createWebhookNotifier(clock: Clock, timeoutMs = 5000): Notifier {
  return {
    channel: 'webhook',
    async send({ target, message, attempt }: Delivery) {
      if (!target.url || !target.secret) return { ok: false, retryable: false, error: 'no endpoint' };
      return signedPost({
        url: target.url,
        secret: target.secret,
        body: message,
        timeoutMs,
        headers: { 'x-medhub-event': message.event, 'x-medhub-delivery': message.notificationId, 'x-medhub-attempt': String(attempt) },
        now: () => Math.floor(clock.now().getTime() / 1000),
      });
    },
  };
}
