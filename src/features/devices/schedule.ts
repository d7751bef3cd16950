/**
 * The desired schedule of a device: stored, then published retained on
 * `v1/devices/{id}/schedule` with a version one above the last, so a device
 * that connects later gets it at once. The device reports the version it
 * applied in its heartbeats (desired/reported, like a device shadow).
 */
import type { Clock } from '../../ports/clock.js';
import type { MqttTransport } from '../../transports/mqtt/broker.js';
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

export function createSchedules(models: DeviceModels, mqtt: MqttTransport, clock: Clock) {
  const { Device } = models;
  return {
    /** `owed`: this schedule is a placeholder; the device still needs one of its patient's (see the model). */
    async publish(device: Pick<DeviceDoc, '_id'>, input: ScheduleInput, { owed = false }: { owed?: boolean } = {}): Promise<Record<string, unknown>> {
      const now = clock.now();
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
      // Versions only grow: the increment happens in the store, so two writers never publish the same version.
      const bumped = await Device.findOneAndUpdate({ _id: device._id }, { $inc: { 'schedule.version': 1 } }, { returnDocument: 'after' }).lean<DeviceDoc>();
      const payload = { ...draft, version: bumped?.schedule?.version ?? 1 };
      await Device.updateOne({ _id: device._id }, { $set: { 'schedule.payload': payload, 'schedule.updatedAt': now, 'schedule.owed': owed } });
      await mqtt.publish(scheduleTopic(device._id), payload, { qos: 1, retain: true });
      return payload;
    },
  };
}

export type Schedules = ReturnType<typeof createSchedules>;

/** What a device holds while it has no patient, or until its new patient's schedule is published. */
export function emptySchedule(device: Pick<DeviceDoc, 'schedule'>): ScheduleInput {
  const previous = device.schedule?.payload as { timezone?: unknown } | null | undefined;
  return { timezone: typeof previous?.timezone === 'string' ? previous.timezone : 'UTC', items: [] };
}
