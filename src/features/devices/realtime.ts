/**
 * Live device news for caregiver apps: `device:status` on every status change
 * and heartbeat, `dose:event` for dose events and `device:event` for the
 * others (jam, tamper, refill, help, reboot), sent to the patient's room and
 * the organisation's staff (or only the staff for an unassigned device).
 */
import { patientAudience, rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { CommandDoc, DeviceDoc, DeviceEventDoc } from './models.js';
import { toCommandView, toDeviceStatusView, toEventView } from './views.js';

export function audienceOf(device: Pick<DeviceDoc, 'organisationId' | 'patientId'>): string[] {
  const organisationId = String(device.organisationId);
  return device.patientId ? patientAudience({ id: String(device.patientId), organisationId }) : [rooms.organisationStaff(organisationId)];
}

export function createDeviceRealtime(sockets: SocketTransport) {
  return {
    status(device: DeviceDoc): void {
      sockets.emit(audienceOf(device), 'device:status', {
        deviceId: device._id,
        patientId: device.patientId ? String(device.patientId) : null,
        ...toDeviceStatusView(device),
      });
    },
    command(device: Pick<DeviceDoc, 'organisationId' | 'patientId'>, command: CommandDoc): void {
      sockets.emit(audienceOf(device), 'device:command', toCommandView(command));
    },
    event(device: Pick<DeviceDoc, 'organisationId' | 'patientId'>, event: DeviceEventDoc): void {
      sockets.emit(audienceOf(device), event.type.startsWith('dose.') ? 'dose:event' : 'device:event', toEventView(event));
    },
  };
}

export type DeviceRealtime = ReturnType<typeof createDeviceRealtime>;
