/**
 * Plans, occurrences and adherence: the plan service (through the access
 * policy and the audit log), occurrence generation and the device schedule,
 * the clock sweep, device-event matching, stock and manual confirmation.
 *
 * This file wires the modules that do each of those (one factory each, given
 * only what it needs) and answers the service the rest of the hub calls.
 */
import type { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AlertsApi } from '../alerts/contract.js';
import type { Devices } from '../devices/index.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import { createAdherence } from './adherence.js';
import { createDeviceEvents } from './device-events.js';
import { createNamedConfirmation } from './confirm-named.js';
import { createDosesApi } from './doses-api.js';
import { createHourlyGeneration } from './hourly-generation.js';
import { createLateAlerts } from './late-alerts.js';
import { createMissedAlerts } from './missed-alerts.js';
import type { DoseModels } from './models.js';
import { createOccurrences } from './occurrences.js';
import { createPlannedPatients } from './planned-patients.js';
import { createPlans } from './plans.js';
import { createSchedulePublisher } from './publish-schedules.js';
import { createRebuild } from './rebuild.js';
import { createReplanOwed } from './replan-owed.js';
import { createStock } from './stock.js';
import { createSweep } from './sweep.js';
import { createTransitions } from './transitions.js';

export { ADHERENCE_FORMULA } from './adherence.js';
export { REPUBLISH_BELOW_HOURS } from './hourly-generation.js';
export type { PlanInput } from './plan-input.js';
export { HORIZON_HOURS } from './shared.js';
export { REFILL_DAYS } from './stock.js';
export { SWEEP_LOOKBACK_MINUTES } from './sweep.js';

interface Deps {
  models: DoseModels;
  identity: Identity;
  devices: Devices;
  alerts: AlertsApi;
  sockets: SocketTransport;
  clock: Clock;
  logger: Logger;
}

export function createDoseService({ models, identity, devices, alerts, sockets, clock, logger }: Deps) {
  const { Plan, Occurrence, StockTaken } = models;
  const { Device } = devices.models;
  const { policy, audit } = identity;
  const log = logger.child({ feature: 'doses' });
  const lateAlerts = createLateAlerts({ Occurrence, alerts, clock, log });
  const plannedPatients = createPlannedPatients(Plan, sockets);

  const track = <T>(actor: Actor, action: string, objectType: string, objectId: string | null, run: () => Promise<T>) => audited(audit, actor, { action, objectType, objectId }, run);

  async function patientOf(patientId: Types.ObjectId): Promise<PatientDoc | null> {
    return identity.models.Patient.findById(patientId).lean<PatientDoc>();
  }

  // Each module gets what the ones before it answer: state changes and alerts first, the jobs and the API last.
  const { emit, transition, recordTaken } = createTransitions({ Occurrence, sockets, alerts, lateAlerts, clock, log });
  const { missedAlert, raiseMissed, resolveMissedReportedMeanwhile } = createMissedAlerts({ Occurrence, alerts, clock, log });
  const { refillsCleared, refillsRaised, takesStockOnce, decrementStock } = createStock({ Plan, StockTaken, alerts, clock, log });
  const { generateFor, insertDoses } = createOccurrences({ Plan, Occurrence });
  const { publishSchedules, scheduleDevice } = createSchedulePublisher({ Occurrence, Device, devices, plannedPatients, patientOf, clock });
  const { planWork, replanPatient, rebuild, followTimezone } = createRebuild({ Plan, Occurrence, plannedPatients, lateAlerts, transition, insertDoses, publishSchedules, patientOf, clock, log });
  const { replanAfterRevival, replanOwed } = createReplanOwed({ Occurrence, replanPatient, clock, log });
  const { onDeviceEvent } = createDeviceEvents({ Occurrence, plannedPatients, alerts, lateAlerts, transition, recordTaken, raiseMissed, takesStockOnce, decrementStock, replanAfterRevival, clock, log });
  const { generate } = createHourlyGeneration({ Plan, Device, identity, devices, planWork, rebuild, generateFor, publishSchedules, patientOf, clock, log });
  const { sweep } = createSweep({ Occurrence, Device, alerts, lateAlerts, emit, missedAlert, resolveMissedReportedMeanwhile, clock, log });
  const { createPlan, getPlan, replacePlan } = createPlans({ Plan, policy, track, plannedPatients, refillsCleared, refillsRaised, replanPatient, clock });
  const { listDoses, confirm, confirmDose } = createDosesApi({ Occurrence, policy, track, recordTaken, clock });
  const { confirmNamed } = createNamedConfirmation({ Plan, Occurrence, policy, confirmDose, clock });
  const { adherence, adherenceOf } = createAdherence({ Plan, Occurrence, policy, track, clock });

  // ---------------------------------------------------------------- API

  return {
    onDeviceEvent,
    followTimezone,
    generate,
    sweep,
    replanOwed,
    publishSchedules,
    scheduleDevice,
    createPlan,
    getPlan,
    replacePlan,
    listDoses,
    confirm,
    confirmNamed,
    adherence,
    adherenceOf,
  };
}

export type DoseService = ReturnType<typeof createDoseService>;
