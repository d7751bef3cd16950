/**
 * Desired and reported schedule, reconciled: a device reports in each heartbeat the schedule
 * version it applied. One that still reports an older version than the stored one a while after
 * it was published did not get it — a delivery lost, the store not answering when it connected,
 * a firmware that dropped it — and is sent the stored schedule again (retained), at most every
 * few minutes per device, so that a device that cannot apply it is not sent one per heartbeat.
 */
import type { Logger } from '../../observability/logger.js';
import type { HeartbeatListener } from './ingest.js';
import type { Schedules } from './schedule.js';

/** How long a device has to apply a new schedule before it is sent again (a heartbeat or two). */
export const SCHEDULE_APPLY_GRACE_MS = 2 * 60_000;
/** The least time between two catch-ups of one device. */
export const SCHEDULE_RESEND_AFTER_MS = 10 * 60_000;

export function createScheduleCatchUp(schedules: Pick<Schedules, 'sendAgain'>, log: Logger): HeartbeatListener {
  const lastSent = new Map<string, number>();
  return async (device, _previous, heartbeat) => {
    const desired = device.schedule?.version ?? 0;
    const reported = device.status?.appliedScheduleVersion ?? 0;
    if (reported >= desired) {
      lastSent.delete(device._id);
      return;
    }
    const received = heartbeat.receivedAt.getTime();
    const publishedAt = device.schedule?.updatedAt?.getTime() ?? received;
    if (received - publishedAt < SCHEDULE_APPLY_GRACE_MS) return;
    if (received - (lastSent.get(device._id) ?? Number.NEGATIVE_INFINITY) < SCHEDULE_RESEND_AFTER_MS) return;
    lastSent.set(device._id, received);
    try {
      await schedules.sendAgain(device._id);
      log.warn({ deviceId: device._id, reported, desired }, 'device reports an older schedule than the stored one; sent again');
    } catch (error) {
      log.warn({ err: error, deviceId: device._id }, 'could not send a device its schedule again');
    }
  };
}
