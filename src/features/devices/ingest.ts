/**
 * What devices tell the hub, whatever the transport (MQTT or the HTTP
 * fallback): heartbeats, events, status and command acks. Each function
 * resolves only once the data is durably stored — the MQTT transport sends the
 * PUBACK after that — and a resent event (same eventId) is stored once; what
 * an event sets off (caregivers, doses, alerts) runs before the ack too, and
 * runs for a resend whose first arrival was stored but not processed, or — should
 * the device never resend it — from the recovery sweep (event-claims.ts).
 * Heartbeats are the exception that proves it: the latest one of a device
 * takes the place of one still waiting to be written (see heartbeat-queue.ts).
 */
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { CommandDoc, CommandState, DeviceDoc, DeviceModels } from './models.js';
import type { DeviceDirectory } from './directory.js';
import type { DeviceRealtime } from './realtime.js';
import { VAGUE_REASONS } from './presence.js';
import { createEventClaims } from './event-claims.js';
import { createEventEffects } from './event-effects.js';
import { createWriteBatches, type HistoryPolicy } from './write-batches.js';

export const HEARTBEAT_RETENTION_DAYS = 30;

export interface HeartbeatPayload {
  at: string;
  batteryPercent: number;
  rssiDbm: number;
  firmwareVersion: string;
  uptimeSeconds: number;
  appliedScheduleVersion: number;
  slots: { slot: number; pills: number }[];
}

export interface EventPayload {
  eventId: string;
  type: string;
  at: string;
  [field: string]: unknown;
}

export interface StatusPayload {
  state: 'online' | 'offline';
  connectionId: string;
  at?: string;
  reason?: string;
  firmwareVersion?: string;
}

export interface AckPayload {
  commandId: string;
  status: Exclude<CommandState, 'pending'>;
  at: string;
  error?: Record<string, unknown>;
}

/** `previous` is the device as it was before this heartbeat (so listeners can act on a change); `heartbeat`: its device time and when the hub received it. */
export type HeartbeatListener = (device: DeviceDoc, previous: DeviceDoc, heartbeat: { at: Date; receivedAt: Date }) => void | Promise<void>;

/**
 * The heartbeat history is sampled: a fleet heartbeating every minute would otherwise keep 43,200
 * records per device for its 30 days (in the embedded store, in memory). A heartbeat is kept when
 * the device's last kept one is at least `intervalSeconds` old, or reported other firmware or
 * another schedule version (compared with the last kept heartbeat, not the live status: a
 * device's `online` status message may have announced new firmware already); the live status
 * always follows the latest heartbeat.
 */
export function heartbeatHistoryPolicy(intervalSeconds: number): HistoryPolicy {
  const intervalMs = intervalSeconds * 1000;
  return (previous, { doc }) => {
    const last = previous.status?.lastKept;
    if (!last?.at) return true;
    const sinceLast = doc.receivedAt.getTime() - last.at.getTime();
    // A negative interval means the hub's clock stepped back: keep, rather than wait for it to catch up.
    if (sinceLast >= intervalMs || sinceLast < 0) return true;
    return doc.firmwareVersion !== last.firmwareVersion || doc.appliedScheduleVersion !== last.appliedScheduleVersion;
  };
}

export interface IngestOptions {
  heartbeatHistorySeconds: number;
  /** The pause between heartbeat writes while the hub has room (HEARTBEAT_BATCH_MS). */
  heartbeatBatchMs: number;
  /** The longest pause between heartbeat writes while the hub is saturated. */
  heartbeatMaxPauseMs: number;
}

/** What the heartbeat queue does, for metrics. */
export interface HeartbeatObserver {
  onPause?: (ms: number) => void;
  onSuperseded?: () => void;
}

/** Presence's word on a device heard from while it was called offline (presence.ts). */
export type BackOnline = (deviceId: string) => Promise<DeviceDoc | null>;

export function createIngest(models: DeviceModels, directory: DeviceDirectory, realtime: DeviceRealtime, backOnline: BackOnline, clock: Clock, options: IngestOptions, log: Logger, observer: HeartbeatObserver = {}) {
  const { Device, Command } = models;
  const pace = { minMs: Math.min(options.heartbeatBatchMs, options.heartbeatMaxPauseMs), maxMs: options.heartbeatMaxPauseMs };
  const { writeEvent, markProcessed, flushProcessed, writeHeartbeat, dropWaitingHeartbeat, closeHeartbeats, setOnDevice } = createWriteBatches(models, directory, heartbeatHistoryPolicy(options.heartbeatHistorySeconds), { pace, onPause: observer.onPause, replaceWaiting: options.heartbeatHistorySeconds > 0 });
  const claims = createEventClaims(models.DeviceEvent, clock);
  const effects = createEventEffects({ claims, realtime, markProcessed, log });
  const heartbeatListeners: HeartbeatListener[] = [];

  return {
    /** Writes waiting heartbeats and processed marks now (the hub is closing), and later heartbeats at once. */
    async close(): Promise<void> {
      effects.close();
      await Promise.all([flushProcessed(), closeHeartbeats()]);
    },
    /** The device disconnected: a heartbeat of its still waiting would call it online again. */
    disconnected: dropWaitingHeartbeat,

    /** Other features (doses, alerts) react to stored events here. */
    onEvent: effects.onEvent,

    /** Other features (alerts: battery.low) react to a stored heartbeat, with the device's updated status. */
    onHeartbeat(listener: HeartbeatListener): void {
      heartbeatListeners.push(listener);
    },

    /**
     * Resolves once the heartbeat is stored, or when newer news of the device takes its place
     * before it is written: a newer heartbeat (unless the history keeps every one), or a presence
     * change after it arrived (a late write would call a device online that has gone).
     */
    async heartbeat(deviceId: string, payload: HeartbeatPayload): Promise<void> {
      const now = clock.now();
      const at = new Date(payload.at);
      // Not `online`: presence says that (below), so that its listeners hear of it.
      const status = {
        'status.lastSeenAt': now,
        'status.batteryPercent': payload.batteryPercent,
        'status.rssiDbm': payload.rssiDbm,
        'status.firmwareVersion': payload.firmwareVersion,
        'status.uptimeSeconds': payload.uptimeSeconds,
        'status.appliedScheduleVersion': payload.appliedScheduleVersion,
        'status.slots': payload.slots,
      };
      const written = await writeHeartbeat({
        deviceId,
        status,
        doc: { deviceId, ...payload, at, receivedAt: now, expiresAt: new Date(now.getTime() + HEARTBEAT_RETENTION_DAYS * 86_400_000) },
      });
      if (!written) {
        // Newer news of the device took its place (a newer heartbeat, written, told and acted on; or a presence change).
        observer.onSuperseded?.();
        return;
      }
      const { previous } = written;
      let { device } = written;
      // Called offline while still connected (silent past its timeout, e.g. a stalled firmware): it
      // is back, and presence tells caregivers and listeners (a device.offline alert resolves).
      if (device.status?.online === false) device = (await backOnline(deviceId)) ?? device;
      else realtime.status(device);
      for (const listener of heartbeatListeners) await listener(device, previous, { at, receivedAt: now });
    },

    /** Stores an event once; returns false when it was a resend of one already stored. */
    async event(deviceId: string, payload: EventPayload, via: 'mqtt' | 'http'): Promise<boolean> {
      const now = clock.now();
      const { stored } = await writeEvent({
        deviceId,
        now,
        doc: { deviceId, eventId: payload.eventId, type: payload.type, at: new Date(payload.at), receivedAt: now, via, payload },
      });
      if (stored) {
        await effects.run(stored);
        return true;
      }
      // A resend. If its first arrival was stored but the hub failed before its effects ran (so the
      // device got no ack and sent it again), they run now.
      await effects.resend(deviceId, payload.eventId);
      return false;
    },

    /** The recovery sweep for events stored but never acted on (event-effects.ts); how many it acted on. */
    recoverUnprocessed: effects.recover,

    async status(deviceId: string, payload: StatusPayload): Promise<void> {
      // The connection itself tells presence (see presence.ts); status messages add the connection id,
      // the firmware and, for an announced shutdown or reboot, the reason.
      if (payload.state === 'online') {
        const set: Record<string, unknown> = { 'status.connectionId': payload.connectionId, 'status.lastSeenAt': clock.now() };
        if (payload.firmwareVersion) set['status.firmwareVersion'] = payload.firmwareVersion;
        // A new connection announcing itself: a reason stamped by an older one's Last Will (which the
        // broker publishes when this connection takes over its session) no longer applies — while the
        // device is online (it may have dropped again since, with a reason of its own).
        await Promise.all([setOnDevice({ _id: deviceId }, set), setOnDevice({ _id: deviceId, 'status.online': true }, { 'status.reason': null })]);
        return;
      }
      // A late `offline` from an older connection must not touch the current one, nor replace a reason
      // the hub gave (a disabled device's Will is published as the hub cuts it off).
      if (payload.reason) await setOnDevice({ _id: deviceId, 'status.connectionId': payload.connectionId, $or: [{ 'status.online': true }, { 'status.reason': { $in: [null, ...VAGUE_REASONS] } }] }, { 'status.reason': payload.reason });
    },

    async ack(deviceId: string, payload: AckPayload): Promise<void> {
      const command = await Command.findOneAndUpdate(
        { _id: payload.commandId, deviceId, status: 'pending' },
        { $set: { status: payload.status, completedAt: clock.now(), error: payload.error ?? null } },
        { returnDocument: 'after' },
      ).lean<CommandDoc>();
      if (command) {
        const device = await Device.findById(deviceId, { organisationId: 1, patientId: 1 }).lean<DeviceDoc>();
        if (device) realtime.command(device, command);
        return;
      }
      // Acks are repeated on redelivery; only an ack for a command never sent to this device is an error.
      if (!(await Command.exists({ _id: payload.commandId, deviceId }))) {
        throw new AppError('not_found', 'No such command was sent to this device');
      }
    },
  };
}

export type Ingest = ReturnType<typeof createIngest>;

