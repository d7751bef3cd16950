/**
 * Refresh-token theft detection covers the whole family: any token a session ever replaced,
 * however many rotations ago, revokes the session when it is presented again — not only the one
 * replaced last. Sessions begun before token families (refresh tokens `<sessionId>.<secret>`)
 * keep working and join a family at their next rotation.
 */
import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { hashToken } from '../../src/features/identity/tokens.js';
import { request } from '../helpers/clients.js';
import { createOrganisation, createUser } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

interface Pair {
  accessToken: string;
  refreshToken: string;
}

async function refresh(hub: Hub, refreshToken: string) {
  return request<Pair & { code?: string }>(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken } });
}

async function rotated(t: Test, hub: Hub, refreshToken: string): Promise<Pair> {
  const response = await refresh(hub, refreshToken);
  t.equal(response.status, 200, 'rotated');
  return response.body;
}

t.test('a refresh token replaced two or more rotations ago revokes the session when presented again', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  const victim = await createUser(hub, admin, 'caregiver');
  const stolen = victim.refreshToken;

  // The thief refreshes first, twice: the victim's copy is now two rotations old.
  const second = await rotated(t, hub, stolen);
  const third = await rotated(t, hub, second.refreshToken);
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: third.accessToken })).status, 200, 'the thief is in');

  // A token of the session's id that the session never issued is refused and changes nothing.
  const sessionId = stolen.split('.')[0] ?? '';
  const forged = await refresh(hub, `${sessionId}.${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64url')}`);
  t.equal(forged.status, 401, 'a forged token is refused');
  const fourth = await rotated(t, hub, third.refreshToken);

  // The victim's app refreshes with the token it holds, three rotations old by now.
  const replay = await refresh(hub, stolen);
  t.equal(replay.status, 401, 'the old token is refused');
  t.equal(replay.body.code, 'unauthenticated');

  t.equal((await refresh(hub, fourth.refreshToken)).status, 401, 'and the session is revoked: the thief cannot refresh');
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: fourth.accessToken })).status, 401, 'nor use the access token it has');
  t.equal((await refresh(hub, second.refreshToken)).status, 401, 'no token of the family works any more');
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: victim.token })).status, 401, 'the victim signs in again');
});

t.test('a session begun before token families keeps its refresh token, and its replaced tokens still revoke it', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  const user = await createUser(hub, admin, 'clinician');
  // The session as the hub stored it before: a refresh token `<sessionId>.<secret>`, its hash, no family.
  const sessionId = user.refreshToken.split('.')[0] ?? '';
  const legacy = `${sessionId}.${randomBytes(32).toString('base64url')}`;
  const { Session } = hub.features.identity.models;
  await Session.collection.updateOne({ _id: new Types.ObjectId(sessionId) }, { $set: { tokenHash: hashToken(legacy), previousHash: null }, $unset: { familyHash: '' } });

  const first = await rotated(t, hub, legacy);
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: first.accessToken })).status, 200, 'the old token still refreshes');
  const second = await rotated(t, hub, first.refreshToken);
  const third = await rotated(t, hub, second.refreshToken);

  t.equal((await refresh(hub, legacy)).status, 401, 'the old-format token, replaced three rotations ago, is refused');
  t.equal((await refresh(hub, third.refreshToken)).status, 401, 'and it revoked the session');
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: third.accessToken })).status, 401, 'its access tokens stop working');
});
