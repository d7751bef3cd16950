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
import type { CommandDoc, DeviceDoc, DeviceModels } from './models.js';
import { burstLoader } from '../burst-loader.js';

export const MAX_COMMAND_TTL_SECONDS = 24 * 60 * 60;

export interface CommandRequest {
  type: CommandDoc['type'];
  params?: Record<string, unknown>;
  ttlSeconds?: number;
}

export const commandTopic = (deviceId: string): string => `v1/devices/${deviceId}/commands`;

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

  const wirePayload = (command: CommandDoc) => ({
    commandId: command._id,
    type: command.type,
    params: command.params ?? {},
    issuedAt: command.issuedAt.toISOString(),
    expiresAt: command.expiresAt.toISOString(),
  });

  return {
    async issue(device: Pick<DeviceDoc, '_id' | 'organisationId'>, request: CommandRequest, issuedBy: string): Promise<CommandDoc> {
      const issuedAt = clock.now();
      const ttl = Math.min(request.ttlSeconds ?? 300, MAX_COMMAND_TTL_SECONDS);
      const created = await Command.create({
        _id: randomUUID(),
        deviceId: device._id,
        organisationId: device.organisationId,
        type: request.type,
        params: request.params ?? {},
        issuedAt,
        expiresAt: new Date(issuedAt.getTime() + ttl * 1000),
        issuedBy,
      });
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
