/**
 * The hourly job (`doses.generate`): every plan's occurrences extended up to the horizon, and
 * fresh schedules for the devices whose published one runs short or that a move left owed one.
 */
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { DeviceDoc } from '../devices/models.js';
import type { Devices } from '../devices/index.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import type { DoseModels, PlanDoc } from './models.js';
import type { Occurrences } from './occurrences.js';
import type { SchedulePublisher } from './publish-schedules.js';
import type { Rebuild } from './rebuild.js';
import { HORIZON_HOURS, HOUR, oid, type PatientOf } from './shared.js';

/** Devices get a fresh schedule when theirs has less than this left. */
export const REPUBLISH_BELOW_HOURS = 48;

interface Deps {
  Plan: DoseModels['Plan'];
  Device: Devices['models']['Device'];
  identity: Pick<Identity, 'models'>;
  devices: Pick<Devices, 'service'>;
  planWork: Rebuild['planWork'];
  rebuild: Rebuild['rebuild'];
  generateFor: Occurrences['generateFor'];
  publishSchedules: SchedulePublisher['publishSchedules'];
  patientOf: PatientOf;
  clock: Clock;
  log: Logger;
}

export function createHourlyGeneration({ Plan, Device, identity, devices, planWork, rebuild, generateFor, publishSchedules, patientOf, clock, log }: Deps) {
  /** Hourly: occurrences up to the horizon for every plan, and fresh schedules for devices whose schedule runs short. */
  async function generate(): Promise<{ plans: number; inserted: number; published: number }> {
    const now = clock.now();
    const horizon = new Date(now.getTime() + HORIZON_HOURS * HOUR - HOUR);
    const plans = await Plan.find({ $or: [{ generatedUntil: null }, { generatedUntil: { $lt: horizon } }] }).lean<PlanDoc[]>();
    let inserted = 0;
    const patients = new Map((await identity.models.Patient.find({ _id: { $in: plans.map((p) => p.patientId) } }, { timezone: 1 }).lean<PatientDoc[]>()).map((p) => [String(p._id), p]));
    for (const plan of plans) {
      const patient = patients.get(String(plan.patientId));
      if (patient) inserted += await planWork(String(plan.patientId), () => extend(plan, patient, now));
    }
    // Devices whose published schedule ends within REPUBLISH_BELOW_HOURS get the next HORIZON_HOURS.
    const soon = new Date(now.getTime() + REPUBLISH_BELOW_HOURS * HOUR).toISOString();
    const planned = await Plan.distinct('patientId');
    const stale = await Device.find({ patientId: { $in: planned }, disabled: { $ne: true }, 'schedule.owed': { $ne: true }, $or: [{ 'schedule.payload': null }, { 'schedule.payload.validUntil': { $lt: soon } }] }).lean<DeviceDoc[]>();
    const byPatient = new Map<string, DeviceDoc[]>();
    for (const device of stale) byPatient.set(String(device.patientId), [...(byPatient.get(String(device.patientId)) ?? []), device]);
    let published = 0;
    for (const [patientId, list] of byPatient) {
      const patient = await patientOf(oid(patientId));
      if (patient) published += await publishSchedules(patient, list);
    }
    // Devices moved to another patient whose new schedule was not published then (the move failed halfway).
    for (const device of await Device.find({ 'schedule.owed': true, disabled: { $ne: true } }).lean<DeviceDoc[]>()) {
      try {
        await devices.service.followPatient(device);
        published += 1;
      } catch (error) {
        log.warn({ err: error, deviceId: device._id }, 'could not publish the schedule a moved device is owed; next hour again');
      }
    }
    return { plans: plans.length, inserted, published };
  }

  /**
   * The hourly generation of one plan (inside planWork). A plan replaced since it was read, or
   * whose zone is not the patient's any more (a time-zone change whose rebuild failed), is rebuilt
   * from what is current instead.
   */
  async function extend(plan: PlanDoc, patient: PatientDoc, now: Date): Promise<number> {
    if (plan.timezone !== patient.timezone) {
      await rebuild(plan.patientId);
      return 0;
    }
    const { inserted, current } = await generateFor(plan, patient.timezone, now);
    if (!current) await rebuild(plan.patientId);
    return inserted;
  }

  return { generate };
}
