/** Signed webhooks: POST the message as JSON to the policy's endpoint, signed with its secret. */
import type { Clock } from '../../clock.js';
import type { Delivery, Notifier } from '../../notifier.js';
import type { DestinationGuard } from './destinations.js';
import { signedPost } from './signing.js';

/** `destinations`: where the endpoints may be (a policy's URL is written by a clinician, not the operator). */
export function createWebhookNotifier(clock: Clock, destinations: DestinationGuard, timeoutMs = 5000): Notifier {
  return {
    channel: 'webhook',
    async send({ target, message, attempt }: Delivery) {
      if (!target.url || !target.secret) return { ok: false, retryable: false, error: 'no endpoint' };
      return signedPost({
        url: target.url,
        secret: target.secret,
        body: message,
        destinations,
        timeoutMs,
        headers: { 'x-medhub-event': message.event, 'x-medhub-delivery': message.notificationId, 'x-medhub-attempt': String(attempt) },
        now: () => Math.floor(clock.now().getTime() / 1000),
      });
    },
  };
}
