/**
 * The device schedule: a patient's open doses up to the horizon, published (retained) to each of
 * their dispensers — after a plan change, hourly when one runs short, and to a device that moved
 * to a patient with a plan.
 */
import type { Clock } from '../../ports/clock.js';
import type { DeviceDoc } from '../devices/models.js';
import type { Devices } from '../devices/index.js';
import type { PatientDoc } from '../identity/models.js';
import { oneAtATime } from '../one-at-a-time.js';
import type { DoseModels } from './models.js';
import type { PlannedPatients } from './planned-patients.js';
import { HORIZON_HOURS, HOUR, oid, type Occurrence, type PatientOf } from './shared.js';

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  Device: Devices['models']['Device'];
  devices: Pick<Devices, 'schedules'>;
  plannedPatients: PlannedPatients;
  patientOf: PatientOf;
  clock: Clock;
}

export function createSchedulePublisher({ Occurrence, Device, devices, plannedPatients, patientOf, clock }: Deps) {
  /**
   * Publishes the next HORIZON_HOURS of doses to every device of the patient. One patient's
   * schedules are read and published one at a time (on this instance): the hourly job reading the
   * doses while a plan change replaces them would otherwise publish the old doses after the new.
   */
  function publishSchedules(patient: Pick<PatientDoc, '_id' | 'timezone'>, only?: DeviceDoc[]): Promise<number> {
    return perPatient(String(patient._id), () => readAndPublishSchedules(patient, only));
  }

  async function readAndPublishSchedules(patient: Pick<PatientDoc, '_id' | 'timezone'>, only?: DeviceDoc[]): Promise<number> {
    const now = clock.now();
    const targets = only ?? (await Device.find({ patientId: patient._id, disabled: { $ne: true } }).lean<DeviceDoc[]>());
    if (!targets.length) return 0;
    // Every dose still open (its window closes after now: a window may last up to 24 h), and those due within the horizon: a device drops a planned dose missing from a new schedule.
    const upcoming = await Occurrence.find({ patientId: patient._id, missedAt: { $gt: now }, dueAt: { $lt: new Date(now.getTime() + HORIZON_HOURS * HOUR) }, state: { $in: ['scheduled', 'due'] } })
      .sort({ dueAt: 1 })
      .lean<Occurrence[]>();
    const items = upcoming.map((o) => ({
      occurrenceId: String(o._id),
      slot: o.slot,
      pills: o.pills,
      dueAt: o.dueAt.toISOString(),
      window: { earlyMinutes: o.window.earlyMinutes, lateAfterMinutes: o.window.lateAfterMinutes, missedAfterMinutes: o.window.missedAfterMinutes },
    }));
    const validUntil = new Date(now.getTime() + HORIZON_HOURS * HOUR).toISOString();
    let published = 0;
    for (const device of targets) if (await devices.schedules.publishFor(patient._id, device, { timezone: patient.timezone, validUntil, items })) published += 1;
    return published;
  }

  const perPatient = oneAtATime();

  /** A device that moved to a patient: that patient's schedule, when they have a plan (devices' followPatient). */
  async function scheduleDevice(device: DeviceDoc): Promise<boolean> {
    if (!device.patientId || !(await plannedPatients.has(String(device.patientId)))) return false;
    const patient = await patientOf(oid(String(device.patientId)));
    if (!patient) return false;
    await publishSchedules(patient, [device]);
    return true;
  }

  return { publishSchedules, scheduleDevice };
}

export type SchedulePublisher = ReturnType<typeof createSchedulePublisher>;
