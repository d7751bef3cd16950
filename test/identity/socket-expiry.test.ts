/**
 * A socket lives as long as its access token: at expiry the hub says `auth:expired` and closes the
 * connection as a dropped transport, so a client with a fresh token recovers without losing an
 * event; `auth:refresh` with a newer token of the same session keeps it open.
 *
 * The hub runs on a test clock: a token issued at its time T expires at T + 15 min, and a socket
 * connected at T + 15 min − 1.5 s is closed 1.5 s (real time) later.
 */
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { ACCESS_TOKEN_TTL_SECONDS } from '../../src/features/identity/tokens.js';
import { patientAudience } from '../../src/transports/socket/rooms.js';
import { connectSocket, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { careScenario, login, type Login } from '../helpers/factories.js';
import { startHubPair, startTestHub } from '../helpers/hub.js';
import { schemaProblems } from '../conversations/helpers.js';

const clock = new ManualClock('2026-12-06T09:00:00Z');
let hub: Hub;
let s: Awaited<ReturnType<typeof careScenario>>;
t.before(async () => {
  hub = await startTestHub(t, { clock });
  s = await careScenario(hub);
});

/** Signs the caregiver in on a session of the test's own, then moves the clock to `msBefore` its token's expiry. */
async function sessionNearExpiry(msBefore: number, on: Hub = hub, scenario = s): Promise<Login & { expiresAt: number }> {
  const session = await login(on, scenario.caregiver.email);
  const expiresAt = clock.now().getTime() + ACCESS_TOKEN_TTL_SECONDS * 1000;
  clock.set(new Date(expiresAt - msBefore));
  return { ...session, expiresAt };
}

async function refresh(t: Test, refreshToken: string, on: Hub = hub): Promise<{ accessToken: string; refreshToken: string }> {
  const response = await request<{ accessToken: string; refreshToken: string }>(on, 'POST', '/api/v1/auth/refresh', { body: { refreshToken } });
  t.equal(response.status, 200, 'the session is refreshed');
  return response.body;
}

/**
 * A socket on `on` whose token expires: told, closed as a dropped transport, recovered with a fresh
 * token and the event sent meanwhile — and not told again once recovered.
 */
async function expiresAndRecovers(t: Test, on: Hub, scenario: typeof s): Promise<void> {
  const session = await sessionNearExpiry(1500, on, scenario);
  let tokens = { accessToken: session.token, refreshToken: session.refreshToken };
  let handshakes = 0;
  // As an app does: every handshake asks for a valid token, refreshing it when it has expired.
  const auth = (send: (data: { token: string }) => void): void => {
    handshakes += 1;
    const fresh = clock.now().getTime() < session.expiresAt ? Promise.resolve(tokens) : refresh(t, tokens.refreshToken, on).then((next) => (tokens = next));
    void fresh.then(({ accessToken }) => send({ token: accessToken }));
  };
  const socket = connectSocket(t, on, { auth, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(socket, 'connect');
  await roomsJoined(on, socket);
  const idBefore = socket.id;
  const patientRooms = patientAudience({ id: scenario.patient.id, organisationId: scenario.admin.organisationId });
  const received: unknown[] = [];
  socket.on('device:status', (payload: unknown) => received.push(payload));
  const notices: Array<Record<string, unknown>> = [];
  socket.on('auth:expired', (notice: Record<string, unknown>) => notices.push(notice));
  const first = nextEvent(socket, 'device:status');
  on.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 1 });
  await first; // the client now knows its offset

  const expired = nextEvent<Record<string, unknown>>(socket, 'auth:expired', 5000);
  const closed = nextEvent<string>(socket, 'disconnect', 5000);
  clock.set(new Date(session.expiresAt + 1000)); // the token is no longer valid for the hub either
  const notice = await expired;
  t.same(schemaProblems(on, 'socket/auth-expired', notice), [], 'auth:expired follows its schema');
  t.equal(notice.code, 'token_expired');
  t.equal(notice.expiredAt, new Date(session.expiresAt).toISOString());
  t.equal(await closed, 'transport close', 'closed as a dropped transport, so the client reconnects by itself');

  while (on.context.sockets.io.of('/').sockets.has(idBefore as string)) await new Promise((resolve) => setTimeout(resolve, 5));
  on.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 2 });

  await nextEvent(socket, 'connect');
  t.ok(socket.recovered, 'the session is recovered with the fresh token');
  t.equal(socket.id, idBefore, 'same socket id');
  t.equal(handshakes, 2);
  while (received.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(received, [{ deviceId: 'd1', n: 1 }, { deviceId: 'd1', n: 2 }], 'the event sent while it was away arrives');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(notices.length, 1, 'the expiry notice is not replayed to the recovered socket');
}

t.test('an expired token closes the socket; a fresh token recovers it with the events it missed', (t) => expiresAndRecovers(t, hub, s));

t.test('the same with two instances and the Redis adapter', async (t) => {
  const { a } = await startHubPair(t, { clock });
  await expiresAndRecovers(t, a, await careScenario(a));
});

t.test('a client that keeps its expired token stays out', async (t) => {
  const session = await sessionNearExpiry(1000);
  const socket = connectSocket(t, hub, { auth: { token: session.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(socket, 'connect');
  const closed = nextEvent<string>(socket, 'disconnect', 5000);
  clock.set(new Date(session.expiresAt + 1000));
  t.equal(await closed, 'transport close');
  const refused = await nextEvent<{ data?: { code: string } }>(socket, 'connect_error', 5000);
  t.equal(refused.data?.code, 'token_expired', 'its reconnection is refused');
});

t.test('auth:refresh with a newer token of the same session keeps the socket open', async (t) => {
  const session = await sessionNearExpiry(1500);
  const socket = connectSocket(t, hub, { auth: { token: session.token } });
  await nextEvent(socket, 'connect');
  await roomsJoined(hub, socket);
  let expiredNotice = false;
  socket.on('auth:expired', () => (expiredNotice = true));

  const invalid = await socket.emitWithAck('auth:refresh', { token: 42 });
  t.equal(invalid.error?.code, 'validation_failed', 'the payload is validated');
  const garbage = await socket.emitWithAck('auth:refresh', { token: 'not-a-token' });
  t.equal(garbage.error?.code, 'unauthenticated');
  const otherUser = await socket.emitWithAck('auth:refresh', { token: (await login(hub, s.outsider.email)).token });
  t.same(otherUser.error?.code, 'forbidden', 'another user’s token is refused');
  const otherSession = await socket.emitWithAck('auth:refresh', { token: (await login(hub, s.caregiver.email)).token });
  t.same(otherSession.error?.code, 'forbidden', 'a token of another session of the same user is refused');

  const next = await refresh(t, session.refreshToken);
  const refreshed = await socket.emitWithAck('auth:refresh', { token: next.accessToken });
  t.equal(refreshed.ok, true);
  const newExpiry = Math.floor(clock.now().getTime() / 1000) * 1000 + ACCESS_TOKEN_TTL_SECONDS * 1000;
  t.equal(Date.parse(refreshed.expiresAt as string), newExpiry, 'the ack gives the new expiry');
  const older = await socket.emitWithAck('auth:refresh', { token: session.token });
  t.same(older, { ok: true, expiresAt: new Date(newExpiry).toISOString() }, 'an older token, still valid, does not shorten its life');

  clock.set(new Date(session.expiresAt + 1000));
  const stale = await socket.emitWithAck('auth:refresh', { token: session.token });
  t.equal(stale.error?.code, 'token_expired', 'an expired token does not replace the current one');
  await new Promise((resolve) => setTimeout(resolve, 2000)); // past the first token's expiry, in real time too
  t.ok(socket.connected, 'still connected');
  t.notOk(expiredNotice, 'no auth:expired');
});
