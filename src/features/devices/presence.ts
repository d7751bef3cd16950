/**
 * Online/offline. A device is online from its MQTT session's start (or any
 * message) and offline when its session ends — clean disconnect or lost
 * connection (whose Last Will the broker publishes to other subscribers) — or
 * when it has been silent longer than its heartbeat timeout (a half-open TCP
 * connection can look alive to the broker for a long time).
 */
import type { Clock } from '../../ports/clock.js';
import { oneAtATime } from '../one-at-a-time.js';
import type { Logger } from '../../observability/logger.js';
import type { DeviceDoc, DeviceModels } from './models.js';
import type { DeviceRealtime } from './realtime.js';

/** Offline reasons that say less than one the device gave for its connection (see `change`). */
export const VAGUE_REASONS: ReadonlySet<string> = new Set(['disconnected', 'silent']);

/**
 * A device that said it was restarting (`reboot`: a staff command, a firmware update) is expected
 * back within this long; still offline after it, its reason becomes `reboot_overdue` (sweepOverdueReboots).
 */
export const REBOOT_GRACE_MS = 5 * 60_000;

export function createPresence(models: DeviceModels, realtime: DeviceRealtime, clock: Clock, logger: Logger) {
  const { Device } = models;
  const changeListeners: Array<(device: DeviceDoc) => void | Promise<void>> = [];

  /**
   * One change at a time per device, in the order asked: a session's end and the next session's
   * start (a reconnection) are conditional writes that must not overtake each other, or the device
   * would be left offline while connected.
   */
  const inOrder = oneAtATime();

  /**
   * Online (never for a disabled device): the reason is cleared. Offline: `reason` — except that the
   * broker's "disconnected" and the sweep's "silent" keep a reason the device already gave for this
   * connection (its Last Will or an announced shutdown, ingest.ts), which says more and may arrive
   * before or after them.
   */
  async function change(deviceId: string, online: boolean, reason: string | null): Promise<DeviceDoc | null> {
    const now = clock.now();
    const offlineReason = reason !== null && VAGUE_REASONS.has(reason) ? { $ifNull: ['$status.reason', reason] } : { $literal: reason };
    const set: Record<string, unknown> = { 'status.online': online, 'status.changedAt': now, 'status.reason': online ? null : offlineReason };
    if (online) set['status.lastSeenAt'] = now;
    const filter = online ? { _id: deviceId, 'status.online': false, disabled: false } : { _id: deviceId, 'status.online': true };
    const device = await Device.findOneAndUpdate(filter, [{ $set: set }], { returnDocument: 'after', updatePipeline: true }).lean<DeviceDoc>();
    if (device) {
      realtime.status(device);
      for (const listener of changeListeners) await listener(device);
    }
    return device;
  }

  /**
   * A device connecting while the store still calls it online but it has not been heard from
   * within its heartbeat timeout: it went away without the hub seeing it go (the hub was down, or
   * its session ended unseen), so it is online from now, as if it had been called offline and
   * come back — a dose due during the gap must not be called missed on the word of a status
   * that nobody was keeping (doses/evidence.ts). One update, only when it is already online.
   */
  async function returnedAfterGap(deviceId: string): Promise<DeviceDoc | null> {
    const now = clock.now();
    const silentTooLong = { $expr: { $lt: ['$status.lastSeenAt', { $subtract: [now, { $multiply: ['$heartbeatTimeoutSeconds', 1000] }] }] } };
    const device = await Device.findOneAndUpdate(
      { _id: deviceId, 'status.online': true, disabled: false, ...silentTooLong },
      { $set: { 'status.changedAt': now, 'status.lastSeenAt': now, 'status.reason': null } },
      { returnDocument: 'after' },
    ).lean<DeviceDoc>();
    if (device) realtime.status(device);
    return device;
  }

  return {
    /** Other features (alerts) react to a device going online or offline. */
    onChange(listener: (device: DeviceDoc) => void | Promise<void>): void {
      changeListeners.push(listener);
    },
    /** The device is online (a session started, or it was heard from): the device if that changed its status. */
    online: (deviceId: string): Promise<DeviceDoc | null> => inOrder(deviceId, async () => (await change(deviceId, true, null)) ?? returnedAfterGap(deviceId)),
    offline: (deviceId: string, reason: string): Promise<DeviceDoc | null> => inOrder(deviceId, () => change(deviceId, false, reason)),

    /** Marks silent devices offline; returns how many. Safe to run twice or on two instances. */
    async sweepSilent(): Promise<number> {
      const now = clock.now().getTime();
      // Only the silent ones come back: a condition per heartbeat timeout in use (nearly always one).
      // Reading every online device's status instead held the event loop 150–250 ms every 30 s
      // with 10,000 dispensers on the embedded store.
      const timeouts = await Device.distinct('heartbeatTimeoutSeconds', { 'status.online': true });
      if (timeouts.length === 0) return 0;
      const silent = timeouts.map((seconds: number) => ({ heartbeatTimeoutSeconds: seconds, 'status.lastSeenAt': { $lt: new Date(now - seconds * 1000) } }));
      const candidates = await Device.find({ 'status.online': true, $or: [...silent, { 'status.lastSeenAt': null }] }, { _id: 1 }).lean<DeviceDoc[]>();
      let marked = 0;
      for (const device of candidates) {
        if (await inOrder(device._id, () => change(device._id, false, 'silent'))) marked += 1;
      }
      if (marked) logger.info({ marked }, 'silent devices marked offline');
      return marked;
    },

    /**
     * Devices offline for a reboot longer than REBOOT_GRACE_MS: their reason becomes
     * `reboot_overdue`, announced like any change (caregivers then hear it is offline). The time it
     * went offline (`changedAt`) is kept. Returns how many. Safe to run twice or on two instances.
     */
    async sweepOverdueReboots(): Promise<number> {
      const cutoff = new Date(clock.now().getTime() - REBOOT_GRACE_MS);
      const overdue = await Device.find({ 'status.online': false, 'status.reason': 'reboot', 'status.changedAt': { $lte: cutoff } }, { _id: 1 }).lean<DeviceDoc[]>();
      let marked = 0;
      for (const { _id } of overdue) {
        const device = await inOrder(_id, () =>
          // The cutoff again: a device back and rebooting again since the read is not overdue.
          Device.findOneAndUpdate({ _id, 'status.online': false, 'status.reason': 'reboot', 'status.changedAt': { $lte: cutoff } }, { $set: { 'status.reason': 'reboot_overdue' } }, { returnDocument: 'after' }).lean<DeviceDoc>(),
        );
        if (!device) continue;
        marked += 1;
        realtime.status(device);
        for (const listener of changeListeners) await listener(device);
      }
      if (marked) logger.info({ marked }, 'devices not back from a reboot marked overdue');
      return marked;
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;
