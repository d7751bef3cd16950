/** Alerts test helpers: a care scenario with a second-tier caregiver, and policy shortcuts. */
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { addToCareTeam, careScenario, createUser } from '../helpers/factories.js';
import type { Socket } from 'socket.io-client';

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
  await nextEvent(socket, 'connect');
  await socket.timeout(5000).emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) });
  // The answer does not prove the connection hooks (room joins) have run; the rooms do.
  await roomsJoined(hub, socket);
  return socket;
}

export async function putPatientPolicy(hub: Hub, token: string, patientId: string, policy: Record<string, unknown>): Promise<void> {
  const response = await request(hub, 'PUT', `/api/v1/patients/${patientId}/escalation-policy`, { token, body: policy });
  if (response.status !== 200) throw new Error(`policy: ${response.status} ${JSON.stringify(response.body)}`);
}

/** Collects every payload of an event on a socket. */
export function collect<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

export const settle = (ms = 150): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
