/**
 * Records delivery attempts on their notification documents, batched: the
 * attempts that finish in the same turn of the event loop are written with one
 * bulkWrite. A sweep that raises thousands of alerts sends thousands of socket
 * notifications at once; they would otherwise cost one store round trip each.
 * Each caller still waits for its own write, so a notification's attempts stay
 * in order.
 */
import type { AnyBulkWriteOperation, Model, Types, UpdateQuery } from 'mongoose';
import type { NotificationDoc } from './models.js';

interface Queued {
  op: AnyBulkWriteOperation<NotificationDoc>;
  done: (error?: unknown) => void;
}

export function createAttemptLog(Notification: Model<NotificationDoc>) {
  let queue: Queued[] = [];

  async function flush(): Promise<void> {
    const batch = queue;
    queue = [];
    try {
      await Notification.bulkWrite(
        batch.map((q) => q.op),
        { ordered: false },
      );
      for (const q of batch) q.done();
    } catch (error) {
      // One failed write fails the batch for every caller: each logs it, as a lone write would.
      for (const q of batch) q.done(error);
    }
  }

  return {
    /** Applies `update` to the notification; resolves once it is written. */
    record(id: Types.ObjectId, update: UpdateQuery<NotificationDoc>): Promise<void> {
      return new Promise((resolve, reject) => {
        if (!queue.length) setImmediate(() => void flush());
        queue.push({ op: { updateOne: { filter: { _id: id }, update } }, done: (error) => (error === undefined ? resolve() : reject(error as Error)) });
      });
    },
  };
}
