/**
 * The desired schedule of a device: stored, then published retained on
 * `v1/devices/{id}/schedule` with a version one above the last, so a device
 * that connects later gets it at once. The device reports the version it
 * applied in its heartbeats (desired/reported, like a device shadow).
 */
import type { Clock } from '../../ports/clock.js';
import type { MqttTransport } from '../../transports/mqtt/broker.js';
import type { RetainedPacket } from '../../transports/mqtt/retained-index.js';
import { burstLoader } from '../burst-loader.js';
import { schemas } from '../../schemas.js';
import { AppError } from '../../errors.js';
import type { DeviceDoc, DeviceModels } from './models.js';

export const scheduleTopic = (deviceId: string): string => `v1/devices/${deviceId}/schedule`;
/** The contract wants validUntil at least 48 h ahead at all times; 72 h leaves a day between daily republishes. */
export const DEFAULT_SCHEDULE_HORIZON_HOURS = 72;

export interface ScheduleItem {
  occurrenceId?: string;
  slot: number;
  pills: number;
  dueAt: string;
  window: { earlyMinutes: number; lateAfterMinutes: number; missedAfterMinutes: number };
}

export interface ScheduleInput {
  timezone: string;
  validUntil?: string;
  items: ScheduleItem[];
}

/** Versions of the retained messages already read: the embedded broker hands out the same object until the next publish. */
const versions = new WeakMap<RetainedPacket, number>();

/** The version of a retained schedule message (0: none, or not a schedule). */
function versionOf(packet: RetainedPacket | undefined): number {
  if (!packet || packet.payload.length === 0) return 0;
  let version = versions.get(packet);
  if (version === undefined) {
    version = parsedVersion(packet.payload);
    versions.set(packet, version);
  }
  return version;
}

function parsedVersion(payload: Buffer | string): number {
  try {
    const { version } = JSON.parse(String(payload)) as { version?: unknown };
    return typeof version === 'number' ? version : 0;
  } catch {
    return 0;
  }
}

export function createSchedules(models: DeviceModels, mqtt: MqttTransport, clock: Clock) {
  const { Device } = models;
  // A fleet reconnecting to a restarted instance: its stored schedules read with one query per burst.
  const storedPayloads = burstLoader<string, Record<string, unknown> | null>(async (ids) => {
    const found = await Device.find({ _id: { $in: [...ids] } }, { 'schedule.payload': 1 }).lean<DeviceDoc[]>();
    const byId = new Map(found.map((device) => [device._id, (device.schedule?.payload as Record<string, unknown> | null | undefined) ?? null]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  function draftOf(input: ScheduleInput, now: Date) {
    const items = [...input.items].sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.slot - b.slot);
    for (const item of items) {
      if (item.window.lateAfterMinutes > item.window.missedAfterMinutes) {
        throw new AppError('validation_failed', 'lateAfterMinutes must not exceed missedAfterMinutes', { details: [{ path: '/items', message: 'lateAfterMinutes > missedAfterMinutes' }] });
      }
    }
    const draft = {
      version: 1,
      timezone: input.timezone,
      generatedAt: now.toISOString(),
      validUntil: input.validUntil ?? new Date(now.getTime() + DEFAULT_SCHEDULE_HORIZON_HOURS * 3_600_000).toISOString(),
      items,
    };
    schemas().validate('mqtt/schedule', draft);
    return draft;
  }

  /**
   * Stores and publishes (settling what the device was owed); null when no device matches `filter`. Versions only grow, and a version
   * and its payload are stored in one write: of two writers, the later write holds the higher
   * version, so the stored schedule is always the newest.
   */
  async function storeAndPublish(filter: Record<string, unknown>, deviceId: string, input: ScheduleInput): Promise<Record<string, unknown> | null> {
    const now = clock.now();
    const draft = draftOf(input, now);
    const stored = await Device.findOneAndUpdate(
      filter,
      [
        { $set: { 'schedule.version': { $add: [{ $ifNull: ['$schedule.version', 0] }, 1] } } },
        { $set: { 'schedule.payload': { $mergeObjects: [{ $literal: draft }, { version: '$schedule.version' }] }, 'schedule.updatedAt': now, 'schedule.owed': false } },
      ],
      { returnDocument: 'after', updatePipeline: true },
    ).lean<DeviceDoc>();
    if (!stored) return null;
    const payload = stored.schedule?.payload as Record<string, unknown>;
    await mqtt.publish(scheduleTopic(deviceId), payload, { qos: 1, retain: true });
    await republishNewest(deviceId, payload.version as number);
    return payload;
  }

  /**
   * Two writers may publish in the opposite order of their versions: the older one last, as the
   * retained message a device gets when it connects. Whoever published an older version than the
   * stored one publishes the stored one again, until what it last published is the stored one.
   */
  async function republishNewest(deviceId: string, published: number): Promise<void> {
    for (let last = published, round = 0; round < 5; round++) {
      const current = await Device.findById(deviceId, { schedule: 1 }).lean<DeviceDoc>();
      const payload = current?.schedule?.payload as Record<string, unknown> | null | undefined;
      if (!payload || (payload.version as number) <= last) return;
      await mqtt.publish(scheduleTopic(deviceId), payload, { qos: 1, retain: true });
      last = payload.version as number;
    }
  }

  /** Publishes the stored schedule again (retained), then any newer one stored meanwhile. */
  async function sendAgain(deviceId: string): Promise<void> {
    const payload = await storedPayloads.load(deviceId);
    if (!payload) return;
    await mqtt.publish(scheduleTopic(deviceId), payload, { qos: 1, retain: true });
    await republishNewest(deviceId, payload.version as number);
  }

  return {
    /**
     * Brings what the broker retains for the device up to its stored schedule (`storedVersion`, as
     * read when it authenticated). The embedded broker's retained messages live in memory: after a
     * restart they are older than the store (or gone) — and a device must never connect to an old
     * schedule. Costs one lookup in memory (or in Redis, clustered) when they agree, the common case.
     */
    async retainNewest(deviceId: string, storedVersion: number): Promise<void> {
      if (storedVersion === 0 || versionOf(await mqtt.retained(scheduleTopic(deviceId))) >= storedVersion) return;
      // Published (retained), as any schedule is: the write that a newer one from another instance
      // may overtake is then followed by republishNewest, like every publish.
      await sendAgain(deviceId);
    },

    sendAgain,

    /** The device's desired schedule, as an operator sets it (PUT /devices/{id}/schedule). */
    async publish(device: Pick<DeviceDoc, '_id'>, input: ScheduleInput): Promise<Record<string, unknown>> {
      const payload = await storeAndPublish({ _id: device._id }, device._id, input);
      if (!payload) throw new AppError('not_found', 'Device not found');
      return payload;
    },

    /**
     * A schedule made for `patientId` (null: for no patient): published only while the device
     * still belongs to them — it may have moved while the doses were read; null when it had. It
     * settles what a moved device was owed (see the model's `schedule.owed`).
     */
    publishFor(patientId: unknown, device: Pick<DeviceDoc, '_id'>, input: ScheduleInput): Promise<Record<string, unknown> | null> {
      return storeAndPublish({ _id: device._id, patientId }, device._id, input);
    },
  };
}

export type Schedules = ReturnType<typeof createSchedules>;

/** What a device holds while it has no patient, or until its new patient's schedule is published. */
export function emptySchedule(device: Pick<DeviceDoc, 'schedule'>): ScheduleInput {
  const previous = device.schedule?.payload as { timezone?: unknown } | null | undefined;
  return { timezone: typeof previous?.timezone === 'string' ? previous.timezone : 'UTC', items: [] };
}
