/**
 * Commands to devices: stored, then published QoS 1 on `v1/devices/{id}/commands`
 * with a commandId and an expiry. A device that is offline gets them from its
 * persistent session, and again from here when it reconnects (the device acts
 * once per commandId, so a double delivery is harmless). The device's ack
 * completes a command; one not acked by its expiry is marked expired.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../ports/clock.js';
import type { MqttTransport } from '../../transports/mqtt/broker.js';
import { schemas } from '../../schemas.js';
import type { CommandDoc, DeviceDoc, DeviceModels } from './models.js';
import { burstLoader } from '../burst-loader.js';

export const MAX_COMMAND_TTL_SECONDS = 24 * 60 * 60;

export interface CommandRequest {
  type: CommandDoc['type'];
  params?: Record<string, unknown>;
  ttlSeconds?: number;
}

export const commandTopic = (deviceId: string): string => `v1/devices/${deviceId}/commands`;

/** `sync_time` sets the device's clock to the hub's: the hub's time when none is given. */
function paramsOf(request: CommandRequest, issuedAt: Date): Record<string, unknown> {
  if (request.type === 'sync_time' && request.params === undefined) return { serverTime: issuedAt.toISOString() };
  return request.params ?? {};
}

export function createCommands(models: DeviceModels, mqtt: MqttTransport, clock: Clock) {
  const { Command } = models;
  // A fleet reconnecting after a restart asks for thousands of devices' pending commands at once: one find per burst.
  const pendingOf = burstLoader<string, CommandDoc[]>(
    async (deviceIds) => {
      const pending = await Command.find({ deviceId: { $in: [...deviceIds] }, status: 'pending', expiresAt: { $gt: clock.now() } }).sort({ issuedAt: 1 }).lean<CommandDoc[]>();
      const byDevice = new Map<string, CommandDoc[]>();
      for (const command of pending) byDevice.set(command.deviceId, [...(byDevice.get(command.deviceId) ?? []), command]);
      return deviceIds.map((id) => byDevice.get(id) ?? []);
    },
  );

  const wirePayload = (command: Pick<CommandDoc, '_id' | 'type' | 'params' | 'issuedAt' | 'expiresAt'>) => ({
    commandId: command._id,
    type: command.type,
    params: command.params ?? {},
    issuedAt: command.issuedAt.toISOString(),
    expiresAt: command.expiresAt.toISOString(),
  });

  return {
    /**
     * Stores and publishes a command. It is checked first as the device will receive it, against
     * schemas/mqtt/command.json (params differ per type): a command the device can only reject
     * would otherwise be stored and resent on every reconnect until it expires. Throws
     * validation_failed with details at /params… when it does not fit.
     */
    async issue(device: Pick<DeviceDoc, '_id' | 'organisationId'>, request: CommandRequest, issuedBy: string): Promise<CommandDoc> {
      const issuedAt = clock.now();
      const ttl = Math.min(request.ttlSeconds ?? 300, MAX_COMMAND_TTL_SECONDS);
      const draft = {
        _id: randomUUID(),
        type: request.type,
        params: paramsOf(request, issuedAt),
        issuedAt,
        expiresAt: new Date(issuedAt.getTime() + ttl * 1000),
      };
      schemas().validate('mqtt/command', wirePayload(draft));
      const created = await Command.create({ ...draft, deviceId: device._id, organisationId: device.organisationId, issuedBy });
      const command = created.toObject();
      await mqtt.publish(commandTopic(device._id), wirePayload(command), { qos: 1 });
      return command;
    },

    /** Re-sends the device's pending, unexpired commands (on reconnect). */
    async resendPending(deviceId: string): Promise<number> {
      const pending = await pendingOf.load(deviceId);
      for (const command of pending) await mqtt.publish(commandTopic(deviceId), wirePayload(command), { qos: 1 });
      return pending.length;
    },

    /** Pending commands past their expiry become `expired`. Safe to run twice. */
    async expireStale(): Promise<number> {
      const now = clock.now();
      const result = await Command.updateMany({ status: 'pending', expiresAt: { $lte: now } }, { $set: { status: 'expired', completedAt: now } });
      return result.modifiedCount;
    },
  };
}

export type Commands = ReturnType<typeof createCommands>;
