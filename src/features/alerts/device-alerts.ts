/**
 * Alerts the devices feature gives rise to: jam, tamper, help and refill
 * events; a low battery from heartbeats; a patient's dispenser going offline
 * (resolved when it comes back). Causes are per device (per slot for refills),
 * so a device repeating itself adds nothing while its alert is open.
 */
import type { Logger } from '../../observability/logger.js';
import type { Devices } from '../devices/index.js';
import type { DeviceDoc } from '../devices/models.js';
import type { Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi, AlertType } from './contract.js';
import type { AlertDoc } from './models.js';
import type DataLoader from 'dataloader';
import { burstLoader } from '../burst-loader.js';

/** Below this a heartbeat raises battery.low; at or above BATTERY_OK it resolves it (hysteresis). */
export const BATTERY_LOW_PERCENT = 20;
export const BATTERY_OK_PERCENT = 30;

/**
 * Offline reasons that are not worth an alert (yet): the device was disabled on purpose, or said it
 * was restarting — a reboot command or a firmware update is back within a minute or two, and paging
 * caregivers for it (then telling them it is over) is noise. One not back after REBOOT_GRACE_MS
 * is marked `reboot_overdue` by the presence sweep, which raises device.offline then.
 */
const QUIET_OFFLINE_REASONS = new Set(['disabled', 'reboot']);

/**
 * A patient's dispenser offline this long past its grace (DEVICE_OFFLINE_ALERT_SECONDS) without a
 * device.offline alert raised since it went away gets one from the reconcile job: the raise that
 * should have followed its presence change failed (presence changes are not resent), the instance
 * waiting out its grace stopped, or its reboot was marked overdue and that raise failed.
 */
export const RECONCILE_OFFLINE_AFTER_MS = 2 * 60_000;

export interface DeviceAlertOptions {
  /**
   * How long a dispenser may be offline before device.offline is raised (0: at once). A Wi-Fi blip
   * or a router restart is over in seconds: paging caregivers for it, then telling them it is
   * over, teaches them to ignore the alert.
   */
  offlineAlertMs: number;
}

/** Whether a device's being offline is worth an alert: a patient's, not disabled, not for a quiet reason. */
const offlineWorthAnAlert = (device: DeviceDoc): boolean => Boolean(device.patientId) && !device.disabled && !QUIET_OFFLINE_REASONS.has(device.status?.reason ?? '');

export function registerDeviceAlerts(devices: Devices, alerts: AlertsApi, Alert: Model<AlertDoc>, clock: Clock, logger: Logger, { offlineAlertMs }: DeviceAlertOptions) {
  const base = (device: Pick<DeviceDoc, '_id' | 'organisationId' | 'patientId'>) => ({
    organisationId: String(device.organisationId),
    patientId: device.patientId ? String(device.patientId) : null,
    deviceId: device._id,
  });
  // A fleet coming back (after a network outage or a hub restart) clears thousands of causes within
  // moments — device.offline on connect, battery.low on the first heartbeat — and nearly always
  // none is open. Those gathered in one tick share one lookup (resolveCauses) per resolution note.
  const resolvers = new Map<string, DataLoader<string, true>>();
  // A resolve waits for its batch; a raise of the same cause meanwhile (the device dropped again
  // at once) must come after it, or the resolve would close the alert the raise found open.
  const resolving = new Map<string, Promise<unknown>>();
  const afterResolving = async (cause: string): Promise<void> => {
    await resolving.get(cause)?.catch(() => undefined);
  };
  const loaderFor = (note: string): DataLoader<string, true> => {
    let loader = resolvers.get(note);
    if (!loader) {
      loader = burstLoader<string, true>(
        async (causes) => {
          await alerts.resolveCauses([...causes], note);
          return causes.map(() => true as const);
        },
      );
      resolvers.set(note, loader);
    }
    return loader;
  };
  const resolveCause = (cause: string, note: string): Promise<true> => {
    const resolved = loaderFor(note).load(cause);
    resolving.set(cause, resolved);
    const forget = (): void => {
      if (resolving.get(cause) === resolved) resolving.delete(cause);
    };
    resolved.then(forget, forget);
    return resolved;
  };
  /** Heartbeats and presence changes are not resent: an alert that failed for one is logged, and the next one tries again. */
  const safely = async (what: string, deviceId: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      logger.error({ err: error, deviceId, what }, 'device alert failed');
    }
  };

  // An event's alert that fails fails the event: the device gets no ack and resends it, and the
  // resend, though stored already, has its effects run again (devices' ingest) — raising is per cause, so once.
  devices.ingest.onEvent(async (device, event) => {
    const payload = event.payload as { slot?: number; pills?: number; threshold?: number; sensor?: string };
    const at = event.at;
    const raise = async (type: AlertType, cause: string, details: Record<string, string | number | boolean | null>) => {
      await alerts.raise({ ...base(device), type, cause, details: { eventId: event.eventId, ...details }, at });
    };
    switch (event.type) {
      case 'device.jam':
        return raise('device.jam', `device.jam:${device._id}`, { slot: payload.slot ?? null });
      case 'device.tamper':
        return raise('device.tamper', `device.tamper:${device._id}`, { sensor: payload.sensor ?? null });
      case 'help.requested':
        return raise('help.requested', `help.requested:${device._id}`, {});
      case 'refill.low':
        return raise('refill.low', `refill.low:${device._id}:${payload.slot ?? 0}`, { slot: payload.slot ?? null, pills: payload.pills ?? null, threshold: payload.threshold ?? null });
      default:
        return undefined;
    }
  });

  devices.ingest.onHeartbeat(async (device, previous) => {
    const battery = device.status?.batteryPercent;
    if (typeof battery !== 'number') return;
    const cause = `battery.low:${device._id}`;
    if (battery < BATTERY_LOW_PERCENT) await safely('battery.low', device._id, async () => {
      await afterResolving(cause);
      await alerts.raise({ ...base(device), type: 'battery.low', cause, details: { batteryPercent: battery } });
    });
    // Only a recharge can clear the alert: asking on every heartbeat of a healthy battery would be a store write each.
    else if (battery >= BATTERY_OK_PERCENT && wasLow(previous.status?.batteryPercent)) await safely('battery.low', device._id, () => resolveCause(cause, 'Battery recharged'));
  });

  /** Below the recharge mark, or unknown (a device's first heartbeat after a restart of the hub's state). */
  const wasLow = (percent: number | null | undefined): boolean => typeof percent !== 'number' || percent < BATTERY_OK_PERCENT;

  const raiseOffline = (device: DeviceDoc): Promise<void> =>
    safely('device.offline', device._id, async () => {
      const cause = `device.offline:${device._id}`;
      await afterResolving(cause);
      await alerts.raise({ ...base(device), type: 'device.offline', cause, details: { reason: device.status?.reason ?? null } });
    });

  /** Offline spells waiting out the grace before their alert, by device id. */
  const graceTimers = new Map<string, NodeJS.Timeout>();
  let stopped = false;

  /** At the end of the grace: the alert, if the device is still offline since then (and still worth one). */
  const raiseIfStillOffline = (deviceId: string, since: Date | null | undefined): Promise<void> =>
    safely('device.offline', deviceId, async () => {
      const device = await devices.models.Device.findById(deviceId).lean<DeviceDoc>();
      const sameSpell = device?.status?.online === false && new Date(device.status.changedAt ?? 0).getTime() === new Date(since ?? 0).getTime();
      if (device && sameSpell && offlineWorthAnAlert(device)) await raiseOffline(device);
    });

  devices.presence.onChange(async (device) => {
    clearTimeout(graceTimers.get(device._id));
    graceTimers.delete(device._id);
    if (device.status?.online) {
      await safely('device.offline', device._id, () => resolveCause(`device.offline:${device._id}`, 'Device back online'));
      return;
    }
    // A device staff disabled is not one that went away, whatever reason its status carries.
    if (!offlineWorthAnAlert(device)) return;
    // A reboot overdue has had its grace already (REBOOT_GRACE_MS).
    if (offlineAlertMs === 0 || device.status?.reason === 'reboot_overdue') return raiseOffline(device);
    // Closing: the reconcile job raises it on the next run, wherever it runs.
    if (stopped) return;
    const since = device.status?.changedAt;
    const timer = setTimeout(() => {
      graceTimers.delete(device._id);
      void raiseIfStillOffline(device._id, since);
    }, offlineAlertMs);
    graceTimers.set(device._id, timer.unref());
  });

  /**
   * The job `alerts.offline-reconcile`: every patient's dispenser offline (for a reason worth an
   * alert) for longer than its grace and RECONCILE_OFFLINE_AFTER_MS, with no device.offline alert raised since it
   * went offline, gets one now. An alert raised for this offline spell and resolved by someone
   * meanwhile counts: it is not raised again. Answers how many it raised.
   */
  async function reconcileOffline(): Promise<number> {
    const now = clock.now();
    const gone = await devices.models.Device.find(
      {
        'status.online': false,
        patientId: { $ne: null },
        disabled: { $ne: true },
        'status.reason': { $nin: [null, ...QUIET_OFFLINE_REASONS] },
        'status.changedAt': { $lte: new Date(now.getTime() - offlineAlertMs - RECONCILE_OFFLINE_AFTER_MS) },
      },
      { organisationId: 1, patientId: 1, status: 1 },
    ).lean<DeviceDoc[]>();
    if (!gone.length) return 0;
    const causeOf = (device: DeviceDoc): string => `device.offline:${device._id}`;
    // Only alerts raised since the earliest of these spells began: not every alert a long-offline fleet ever had, each minute.
    const since = new Date(gone.reduce((earliest, device) => Math.min(earliest, new Date(device.status?.changedAt ?? 0).getTime()), Infinity));
    const raised = await Alert.find({ cause: { $in: gone.map(causeOf) }, raisedAt: { $gte: since } }, { cause: 1, raisedAt: 1 }).lean<AlertDoc[]>();
    const latest = new Map<string, number>();
    for (const alert of raised) latest.set(alert.cause, Math.max(latest.get(alert.cause) ?? 0, new Date(alert.raisedAt).getTime()));
    const owed = gone.filter((device) => (latest.get(causeOf(device)) ?? -Infinity) < new Date(device.status?.changedAt ?? 0).getTime());
    if (!owed.length) return 0;
    logger.warn({ devices: owed.length, deviceIds: owed.slice(0, 10).map((d) => d._id) }, 'offline dispensers without their device.offline alert: raised now');
    await alerts.raiseMany(owed.map((device) => ({ ...base(device), type: 'device.offline' as const, cause: causeOf(device), details: { reason: device.status?.reason ?? null } })));
    return owed.length;
  }

  return {
    reconcileOffline,
    /** The hub is closing: the graces still running end without their alert (the reconcile job raises it on the next run). */
    stop(): void {
      stopped = true;
      for (const timer of graceTimers.values()) clearTimeout(timer);
      graceTimers.clear();
    },
  };
}
