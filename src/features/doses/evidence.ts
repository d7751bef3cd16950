/**
 * Never missed (nor late) without evidence: a dose nobody reported is called
 * missed only when a dispenser of the patient has been online since before its
 * due time and sent nothing, or when the patient has no dispenser at all (doses
 * are then confirmed by people). With every dispenser offline at the due time
 * nobody knows: the dose becomes `unknown`, and no alert is raised.
 *
 * "Online" is the stored status only while it is current: a device not heard from
 * within its heartbeat timeout is not watching, whatever its status says — after
 * the hub was down, the status stored before the outage still says online until
 * the silent sweep or the device's return corrects it, and the first sweep must not
 * call the doses of the outage missed on its word (presence.ts dates a device's
 * return after such a gap).
 */
import { Types, type Model } from 'mongoose';
import type { DeviceDoc } from '../devices/models.js';
import type { OccurrenceDoc } from './models.js';

export type Evidence = 'not_confirmed' | 'device_online_no_event';

/** The enabled dispensers of the patients, by patient id, in one query (indexed by patientId). */
export async function fleetOf(Device: Model<DeviceDoc>, patientIds: Iterable<string>): Promise<Map<string, DeviceDoc[]>> {
  const ids = [...new Set(patientIds)];
  const byPatient = new Map<string, DeviceDoc[]>();
  if (!ids.length) return byPatient;
  const fleet = await Device.find({ patientId: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { patientId: 1, status: 1, disabled: 1, heartbeatTimeoutSeconds: 1 }).lean<DeviceDoc[]>();
  for (const device of fleet) if (!device.disabled) byPatient.set(String(device.patientId), [...(byPatient.get(String(device.patientId)) ?? []), device]);
  return byPatient;
}

/** Why the dose may be called missed or late at `now`, or null when nobody can know (no device watching since its due time). */
export function evidenceOf(occurrence: Pick<OccurrenceDoc, 'dueAt'>, devices: DeviceDoc[], now: Date): Evidence | null {
  if (devices.length === 0) return 'not_confirmed';
  return devices.some((device) => watchedSince(device, occurrence.dueAt, now)) ? 'device_online_no_event' : null;
}

/** Online since `since` at the latest, and heard from within its heartbeat timeout of `now`. */
function watchedSince(device: DeviceDoc, since: Date, now: Date): boolean {
  const status = device.status;
  if (!status?.online) return false;
  if (status.changedAt && status.changedAt > since) return false;
  const timeoutMs = (device.heartbeatTimeoutSeconds ?? 0) * 1000;
  return Boolean(status.lastSeenAt && status.lastSeenAt.getTime() >= now.getTime() - timeoutMs);
}
