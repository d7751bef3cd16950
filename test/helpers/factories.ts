/**
 * Test data through the real API: an organisation with an admin (the
 * bootstrap the hub itself uses), then users, patients and care teams created
 * over HTTP exactly as a client would.
 */
import { randomUUID } from 'node:crypto';
import { createAdmin } from '../../src/features/identity/bootstrap.js';
import type { Hub } from '../../src/hub.js';
import { request } from './clients.js';

export const PASSWORD = 'correct horse battery staple';

export interface Login {
  token: string;
  refreshToken: string;
  userId: string;
  email: string;
}

export async function login(hub: Hub, email: string, password = PASSWORD): Promise<Login> {
  const response = await request<{ accessToken: string; refreshToken: string; user: { id: string } }>(hub, 'POST', '/api/v1/auth/login', { body: { email, password } });
  if (response.status !== 200) throw new Error(`login ${email} failed: ${response.status} ${JSON.stringify(response.body)}`);
  return { token: response.body.accessToken, refreshToken: response.body.refreshToken, userId: response.body.user.id, email };
}

interface HeldSession {
  token: string;
  refreshToken?: string;
  renewing?: Promise<string>;
}

const heldSessions = new WeakMap<Hub, Map<string, HeldSession>>();

/** Whether an access token is valid at `now` (hub clock, ms) with a minute to spare. */
function validAt(token: string, now: number): boolean {
  const { iat, exp } = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat: number; exp: number };
  return now >= iat * 1000 && now < exp * 1000 - 60_000;
}

/**
 * An access token for `user` valid at the hub's current clock time (tests that move a test
 * clock outlive the 15-minute tokens). The token the user signed in with is used while it is
 * valid, then one sign-in of this helper's own is renewed over /auth/refresh: a new token
 * without another argon2 verification per call. The user's own refresh token is never used.
 */
export async function currentToken(hub: Hub, user: Pick<Login, 'email' | 'token'>): Promise<string> {
  const held = heldSessions.get(hub) ?? new Map<string, HeldSession>();
  heldSessions.set(hub, held);
  const session = held.get(user.email) ?? { token: user.token };
  held.set(user.email, session);
  if (validAt(session.token, hub.context.clock.now().getTime())) return session.token;
  session.renewing ??= renew(hub, user.email, session).finally(() => (session.renewing = undefined));
  return session.renewing;
}

async function renew(hub: Hub, email: string, session: HeldSession): Promise<string> {
  if (session.refreshToken) {
    const refreshed = await request<{ accessToken: string; refreshToken: string }>(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: session.refreshToken } });
    // A session past its 30 days (of test clock) is signed into again.
    if (refreshed.status === 200) {
      session.token = refreshed.body.accessToken;
      session.refreshToken = refreshed.body.refreshToken;
      return session.token;
    }
  }
  const signedIn = await login(hub, email);
  session.token = signedIn.token;
  session.refreshToken = signedIn.refreshToken;
  return session.token;
}

export async function createOrganisation(hub: Hub, name = 'Org'): Promise<Login & { organisationId: string }> {
  const email = `admin-${randomUUID().slice(0, 8)}@example.org`;
  const admin = await createAdmin(hub.features.identity.models, { email, password: PASSWORD, organisation: name }, hub.features.identity.passwords);
  return { ...(await login(hub, email)), organisationId: String(admin.organisationId) };
}

export async function createUser(hub: Hub, admin: Login, role: 'admin' | 'clinician' | 'caregiver' | 'patient', extra: Record<string, unknown> = {}): Promise<Login> {
  const email = `${role}-${randomUUID().slice(0, 8)}@example.org`;
  const created = await request(hub, 'POST', '/api/v1/users', { token: admin.token, body: { email, name: `A ${role}`, role, password: PASSWORD, ...extra } });
  if (created.status !== 201) throw new Error(`create ${role} failed: ${created.status} ${JSON.stringify(created.body)}`);
  return login(hub, email);
}

export async function createPatient(hub: Hub, staff: Login, body: Record<string, unknown> = {}): Promise<{ id: string; timezone: string }> {
  const created = await request<{ id: string; timezone: string }>(hub, 'POST', '/api/v1/patients', { token: staff.token, body: { name: 'Pat Doe', timezone: 'Europe/Paris', ...body } });
  if (created.status !== 201) throw new Error(`create patient failed: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body;
}

export async function addToCareTeam(hub: Hub, staff: Login, patientId: string, userId: string, priority = 1): Promise<void> {
  const added = await request(hub, 'POST', `/api/v1/patients/${patientId}/care-team`, { token: staff.token, body: { userId, relation: 'daughter', priority } });
  if (added.status !== 200) throw new Error(`care team add failed: ${added.status} ${JSON.stringify(added.body)}`);
}

/** One organisation with every role, a patient with a care team and a patient without. */
export async function careScenario(hub: Hub) {
  const admin = await createOrganisation(hub, 'Sunrise Clinic');
  const clinician = await createUser(hub, admin, 'clinician');
  const caregiver = await createUser(hub, admin, 'caregiver');
  const outsider = await createUser(hub, admin, 'caregiver');
  const patient = await createPatient(hub, clinician, { name: 'Alice' });
  const otherPatient = await createPatient(hub, clinician, { name: 'Bob' });
  await addToCareTeam(hub, clinician, patient.id, caregiver.userId);
  const patientUser = await createUser(hub, admin, 'patient', { patientId: patient.id });
  return { admin, clinician, caregiver, outsider, patient, otherPatient, patientUser };
}
