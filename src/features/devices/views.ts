import type { CommandDoc, DeviceDoc, DeviceEventDoc, HeartbeatDoc } from './models.js';

const iso = (value: Date | null | undefined): string | null => (value instanceof Date ? value.toISOString() : null);

export function toDeviceStatusView(device: DeviceDoc) {
  const s = device.status ?? ({} as NonNullable<DeviceDoc['status']>);
  return {
    online: Boolean(s.online),
    reason: s.reason ?? null,
    lastSeenAt: iso(s.lastSeenAt),
    changedAt: iso(s.changedAt),
    batteryPercent: s.batteryPercent ?? null,
    rssiDbm: s.rssiDbm ?? null,
    firmwareVersion: s.firmwareVersion ?? null,
    uptimeSeconds: s.uptimeSeconds ?? null,
    appliedScheduleVersion: s.appliedScheduleVersion ?? 0,
    slots: (s.slots ?? []).map((slot) => ({ slot: slot.slot, pills: slot.pills })),
  };
}

export function toDeviceView(device: DeviceDoc) {
  return {
    id: device._id,
    organisationId: String(device.organisationId),
    patientId: device.patientId ? String(device.patientId) : null,
    serial: device.serial,
    name: device.name ?? null,
    disabled: device.disabled,
    heartbeatTimeoutSeconds: device.heartbeatTimeoutSeconds,
    status: toDeviceStatusView(device),
    schedule: { version: device.schedule?.version ?? 0, updatedAt: iso(device.schedule?.updatedAt) },
  };
}

export function toEventView(event: DeviceEventDoc) {
  return {
    id: String(event._id),
    deviceId: event.deviceId,
    patientId: event.patientId ? String(event.patientId) : null,
    eventId: event.eventId,
    type: event.type,
    at: event.at.toISOString(),
    receivedAt: event.receivedAt.toISOString(),
    via: event.via,
    payload: event.payload as Record<string, unknown>,
  };
}

export function toHeartbeatView(heartbeat: HeartbeatDoc) {
  return {
    at: heartbeat.at.toISOString(),
    receivedAt: heartbeat.receivedAt.toISOString(),
    batteryPercent: heartbeat.batteryPercent ?? null,
    rssiDbm: heartbeat.rssiDbm ?? null,
    firmwareVersion: heartbeat.firmwareVersion ?? null,
    uptimeSeconds: heartbeat.uptimeSeconds ?? null,
    appliedScheduleVersion: heartbeat.appliedScheduleVersion ?? null,
    slots: (heartbeat.slots ?? []).map((slot) => ({ slot: slot.slot, pills: slot.pills })),
  };
}

export function toCommandView(command: CommandDoc) {
  return {
    commandId: command._id,
    deviceId: command.deviceId,
    type: command.type,
    // As the device receives it: a command sent without params has {} (reboot).
    params: (command.params as Record<string, unknown> | undefined) ?? {},
    issuedAt: command.issuedAt.toISOString(),
    expiresAt: command.expiresAt.toISOString(),
    status: command.status,
    completedAt: iso(command.completedAt),
    error: (command.error as Record<string, unknown> | null) ?? null,
  };
}
