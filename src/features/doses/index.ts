/**
 * Doses: medication plans in the patient's zone, the occurrences generated
 * from them (and published to the patient's devices as their schedule), the
 * lifecycle moved by the clock and by device events, stock and refill alerts,
 * manual confirmation and adherence. See docs/DOSES.md.
 */
import type { AlertsApi } from '../alerts/contract.js';
import type { HubContext } from '../context.js';
import type { Devices } from '../devices/index.js';
import type { Identity } from '../identity/index.js';
import { doseModels } from './models.js';
import { registerDoseRoutes } from './routes.js';
import { createDoseService } from './service.js';

export async function registerDoses(ctx: HubContext, { identity, devices, alerts }: { identity: Identity; devices: Devices; alerts: AlertsApi }) {
  const models = doseModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const service = createDoseService({ models, identity, devices, alerts, sockets: ctx.sockets, clock: ctx.clock, logger: ctx.logger });
  devices.ingest.onEvent((device, event) => service.onDeviceEvent(device, event));
  devices.service.setPatientSchedule((device) => service.scheduleDevice(device));
  identity.directory.onTimezoneChange((patientId) => service.followTimezone(patientId));
  registerDoseRoutes(ctx.http.api, identity.requireUser, service);
  ctx.jobs.add('doses.generate', '0 * * * *', () => service.generate());
  ctx.jobs.add('doses.sweep', '* * * * *', () => service.sweep());
  ctx.jobs.add('doses.replan-owed', '* * * * *', () => service.replanOwed());
  return { models, service };
}

export type Doses = Awaited<ReturnType<typeof registerDoses>>;
