/** Alerts test helpers: a care scenario with a second-tier caregiver, and policy shortcuts. */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Hub } from '../../src/hub.js';
import type { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { eventually, topic } from '../helpers/devices.js';
import { addToCareTeam, careScenario, createUser } from '../helpers/factories.js';
import type { Socket } from 'socket.io-client';

/** A REST call with a token valid at the hub's (manual) time. */
export { as } from '../doses/helpers.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** careScenario plus a second caregiver at priority 2. */
export async function alertScenario(hub: Hub) {
  const s = await careScenario(hub);
  const backup = await createUser(hub, s.admin, 'caregiver', { phone: '+33612345678' });
  await addToCareTeam(hub, s.clinician, s.patient.id, backup.userId, 2);
  return { ...s, backup };
}

export async function signedInSocket(t: Teardown, hub: Hub, token: string): Promise<Socket> {
  const socket = connectSocket(t, hub, { auth: { token } });
  const ready = nextEvent(socket, 'socket:ready');
  await nextEvent(socket, 'connect');
  await socket.timeout(5000).emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) });
  // The answer does not prove the connection hooks (room joins) have run; the rooms do, and the
  // hub says so (socket:ready, which also gives the client its recovery offset).
  await roomsJoined(hub, socket);
  await ready;
  return socket;
}

export async function putPatientPolicy(hub: Hub, token: string, patientId: string, policy: Record<string, unknown>): Promise<void> {
  const response = await request(hub, 'PUT', `/api/v1/patients/${patientId}/escalation-policy`, { token, body: policy });
  if (response.status !== 200) throw new Error(`policy: ${response.status} ${JSON.stringify(response.body)}`);
}

/** The care team's two tiers by socket, ten minutes apart, quiet from 22:00 to 07:00 (the patient's time). */
export const quietNightPolicy = {
  tiers: [
    { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket'] },
    { recipients: [{ careTeam: { priority: 2 } }], channels: ['socket'], delayMinutes: 10 },
  ],
  quietHours: { start: '22:00', end: '07:00' },
};

/** A device event sent over MQTT, dated now on the test clock; resolves once the hub has acted on it. */
export async function deviceEvent(hub: Hub, client: MqttClient, deviceId: string, clock: ManualClock, event: Record<string, unknown>): Promise<string> {
  const eventId = randomUUID();
  await client.publishAsync(topic(deviceId, 'events'), JSON.stringify({ eventId, at: clock.now().toISOString(), ...event }), { qos: 1 });
  await eventually(async () => (await hub.features.devices.models.DeviceEvent.findOne({ eventId }).lean())?.processed === true);
  return eventId;
}

/** Collects every payload of an event on a socket. */
export function collect<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

export const settle = (ms = 150): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
