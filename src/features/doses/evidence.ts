/**
 * Never missed (nor late) without evidence: a dose nobody reported is called
 * missed only when a dispenser of the patient has been online since before its
 * due time and sent nothing, or when the patient has no dispenser at all (doses
 * are then confirmed by people). With every dispenser offline at the due time
 * nobody knows: the dose becomes `unknown`, and no alert is raised.
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
  const fleet = await Device.find({ patientId: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { patientId: 1, status: 1, disabled: 1 }).lean<DeviceDoc[]>();
  for (const device of fleet) if (!device.disabled) byPatient.set(String(device.patientId), [...(byPatient.get(String(device.patientId)) ?? []), device]);
  return byPatient;
}

/** Why the dose may be called missed or late, or null when nobody can know (every device offline at its due time). */
export function evidenceOf(occurrence: Pick<OccurrenceDoc, 'dueAt'>, devices: DeviceDoc[]): Evidence | null {
  if (devices.length === 0) return 'not_confirmed';
  const watching = devices.some((d) => d.status?.online && (!d.status.changedAt || d.status.changedAt <= occurrence.dueAt));
  return watching ? 'device_online_no_event' : null;
}
