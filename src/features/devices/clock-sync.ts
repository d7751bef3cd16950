/**
 * Keeps dispensers' clocks right: a device's `at` fields (when a dose was taken) and its schedule
 * both read its clock. A heartbeat whose `at` is off the hub's clock by more than a minute gets the
 * device a `sync_time` command with the hub's time — at most once an hour per device, so that a
 * device that cannot set its clock is not sent one with every heartbeat.
 */
import type { Logger } from '../../observability/logger.js';
import type { Commands } from './commands.js';
import type { HeartbeatListener } from './ingest.js';

export const CLOCK_DRIFT_TOLERANCE_MS = 60_000;
const RESYNC_AFTER_MS = 3_600_000;

export function createClockSync(commands: Pick<Commands, 'issue'>, log: Logger): HeartbeatListener {
  const lastSent = new Map<string, number>();
  return async (device, _previous, heartbeat) => {
    const received = heartbeat.receivedAt.getTime();
    if (Math.abs(heartbeat.at.getTime() - received) <= CLOCK_DRIFT_TOLERANCE_MS) return;
    if (received - (lastSent.get(device._id) ?? Number.NEGATIVE_INFINITY) < RESYNC_AFTER_MS) return;
    lastSent.set(device._id, received);
    try {
      await commands.issue(device, { type: 'sync_time' }, 'hub');
      log.info({ deviceId: device._id, driftMs: heartbeat.at.getTime() - received }, 'device clock off; sync_time sent');
    } catch (error) {
      log.warn({ err: error, deviceId: device._id }, 'could not send sync_time to a device whose clock is off');
    }
  };
}
