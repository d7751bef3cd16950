/** Built-in channel: `alert:notify` to the recipient's own room `user:{id}` (every device they are signed in on). */
import type { Delivery, Notifier } from '../../notifier.js';

export interface RoomEmitter {
  emit(rooms: string | string[], event: string, payload: unknown): void;
  /** Whether a socket in `room` would get an event: undefined when this instance cannot tell. */
  reaches?(room: string): boolean | undefined;
}

export function createSocketNotifier(sockets: RoomEmitter): Notifier {
  return {
    channel: 'socket',
    immediate: true,
    // Recorded as not delivered rather than delivered to nobody: the alert log says who was reached.
    unreachable: (target) => Boolean(target.userId) && sockets.reaches?.(`user:${target.userId}`) === false,
    async send({ target, message }: Delivery) {
      if (!target.userId) return { ok: false, retryable: false, error: 'no user' };
      sockets.emit(`user:${target.userId}`, 'alert:notify', message);
      return { ok: true, retryable: false };
    },
  };
}
