/** Plans, devices and time for dose tests. Tokens follow the ManualClock, so calls renew them after time moves. */
import type { MqttClient } from 'mqtt';
import type { Hub } from '../../src/hub.js';
import type { Test } from 'tap';
import { ManualClock, type Clock } from '../../src/ports/clock.js';
import { createDoseService, type DoseService } from '../../src/features/doses/service.js';
import { startTestHub } from '../helpers/hub.js';
import { request, type AnyBody, type JsonResponse } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice, topic, type ProvisionedDevice } from '../helpers/devices.js';
import { careScenario, currentToken, type Login } from '../helpers/factories.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export const MIN = 60_000;
export const HOUR = 60 * MIN;

/** A test hub whose cron never starts (the test hub's default): tests move the clock and call the job bodies themselves, so no real-time tick races them. */
export async function startDoseHub(t: Teardown, clock: Clock): Promise<Hub> {
  return startTestHub(t, { clock, startJobs: false });
}

/** An HTTP call as a user, with a token valid at the hub's current (manual) time. */
export async function as<T = AnyBody>(hub: Hub, user: Login, method: string, path: string, body?: unknown): Promise<JsonResponse<T>> {
  const token = await currentToken(hub, user);
  return request<T>(hub, method, `/api/v1${path}`, { token, ...(body === undefined ? {} : { body }) });
}

export function twoMedicationPlan(startDate: string, overrides: { stock?: number; criticalEvening?: boolean } = {}) {
  return {
    medications: [
      { id: 'metformin', name: 'Metformin', strength: '500 mg', instructions: 'with food', slot: 1, pillsPerDose: 1, stock: overrides.stock ?? 60 },
      { id: 'warfarin', name: 'Warfarin', strength: '5 mg', slot: 2, pillsPerDose: 1, stock: 30, criticality: overrides.criticalEvening ? 'critical' : 'normal' },
    ],
    schedule: [
      { id: 'metformin-am-pm', medicationId: 'metformin', times: ['08:00', '13:00'], startDate },
      { id: 'warfarin-pm', medicationId: 'warfarin', times: ['20:00'], startDate },
    ],
  };
}

/** A device of the patient, connected (so online since now) with a long heartbeat timeout (manual time jumps hours). */
export async function onlineDevice(t: Teardown, hub: Hub, staff: Login, patientId: string): Promise<{ device: ProvisionedDevice; client: MqttClient }> {
  const device = await provisionDevice(hub, staff, { patientId, heartbeatTimeoutSeconds: 86_400 });
  const client = await connectDevice(t, hub, device);
  await eventually(async () => (await hub.features.devices.models.Device.findById(device.id).lean())?.status?.online === true);
  return { device, client };
}

export async function sendEvent(client: MqttClient, deviceId: string, event: Record<string, unknown>): Promise<void> {
  await client.publishAsync(topic(deviceId, 'events'), JSON.stringify(event), { qos: 1 });
}

export async function dosesOf(hub: Hub, user: Login, patientId: string, from: string, to: string): Promise<AnyBody[]> {
  const response = await as(hub, user, 'GET', `/patients/${patientId}/doses?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  if (response.status !== 200) throw new Error(`doses: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.items as AnyBody[];
}

export async function stateOf(hub: Hub, occurrenceId: string): Promise<string | undefined> {
  const doc = await hub.features.doses.models.Occurrence.findById(occurrenceId).lean();
  return doc?.state;
}

export async function waitForState(hub: Hub, occurrenceId: string, state: string): Promise<void> {
  await eventually(async () => (await stateOf(hub, occurrenceId)) === state);
}

export function at(clock: ManualClock, iso: string): Date {
  clock.set(iso);
  return clock.now();
}

type HeldMethod = 'findOneAndUpdate' | 'bulkWrite' | 'updateMany';

/**
 * Holds the next call of `method` on the occurrences' collection that `matches`, until released;
 * later calls pass. Two writers then meet deterministically: the held one read, the other writes.
 */
export function holdNext(hub: Hub, method: HeldMethod, matches: (args: unknown[]) => boolean): { reached: Promise<void>; release: () => void } {
  const collection = hub.features.doses.models.Occurrence.collection as unknown as Record<HeldMethod, (...args: unknown[]) => Promise<unknown>>;
  const original = collection[method];
  let reach = (): void => undefined;
  let release = (): void => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  collection[method] = async function held(this: unknown, ...args: unknown[]) {
    if (!matches(args)) return original.apply(this, args);
    delete (collection as Partial<typeof collection>)[method];
    reach();
    await released;
    return original.apply(this, args);
  };
  return { reached, release };
}

/**
 * The dose service of a second hub instance on the same store: its own per-patient queues (plan
 * work is serialised per instance only), the same models, devices, alerts and clock.
 */
export function secondInstance(hub: Hub): DoseService {
  const { models } = hub.features.doses;
  return createDoseService({ models, identity: hub.features.identity, devices: hub.features.devices, alerts: hub.features.alerts, sockets: hub.context.sockets, clock: hub.context.clock, logger: hub.context.logger });
}

/** The dueAt of 10 June 2026's items in the device's stored (published) schedule. */
export async function scheduleToday(hub: Hub, deviceId: string): Promise<string[] | undefined> {
  const payload = (await hub.features.devices.models.Device.findById(deviceId).lean())?.schedule?.payload as { items: Array<{ dueAt: string }> } | undefined;
  return payload?.items.filter((i) => i.dueAt.startsWith('2026-06-10')).map((i) => i.dueAt);
}

/**
 * A patient with `dispensers` online dispensers, given `plan` at 07:00 Paris on 10 June 2026;
 * at 08:01 (the clock's time on return) the sweep has made its 08:00 doses due. Answers them.
 */
export async function morningDue(t: Test, plan: Record<string, unknown>, { dispensers = 1 } = {}) {
  const clock = new ManualClock('2026-06-10T05:00:00Z'); // 07:00 Paris
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const others = dispensers > 1 ? [await onlineDevice(t, hub, s.clinician, s.patient.id)] : [];
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const doses = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  clock.set('2026-06-10T06:01:00Z');
  await hub.features.doses.service.sweep();
  return { clock, hub, s, device, client, others, doses };
}
