import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { connectSocket, dropTransport, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { recoversWithoutGap } from '../helpers/recovery.js';
import { addToCareTeam, careScenario, createUser, login } from '../helpers/factories.js';
import { patientAudience } from '../../src/transports/socket/rooms.js';

// One hub and care scenario for the file (the tests run one after another; the second signs the
// caregiver in and out on a session of its own).
let hub: Hub;
let s: Awaited<ReturnType<typeof careScenario>>;
t.before(async () => {
  hub = await startTestHub(t);
  s = await careScenario(hub);
});

t.test('socket handshake, rooms and subscriptions follow the policy', async (t) => {
  const anonymous = connectSocket(t, hub, { auth: { token: 'not-a-token' } });
  t.equal((await nextEvent<{ data?: { code: string } }>(anonymous, 'connect_error')).data?.code, 'unauthenticated');

  const caregiver = connectSocket(t, hub, { auth: { token: s.caregiver.token } });
  const outsider = connectSocket(t, hub, { auth: { token: s.outsider.token } });
  const clinician = connectSocket(t, hub, { auth: { token: s.clinician.token } });
  await Promise.all([nextEvent(caregiver, 'connect'), nextEvent(outsider, 'connect'), nextEvent(clinician, 'connect')]);

  // Room joins happen in a connection hook (after a store query): wait until they are done.
  await Promise.all([caregiver, outsider, clinician].map((socket) => socket.emitWithAck('patient:unsubscribe', { patientId: s.otherPatient.id })));
  await Promise.all([caregiver, outsider, clinician].map((socket) => roomsJoined(hub, socket)));
  const received = Promise.all([nextEvent(caregiver, 'device:status'), nextEvent(clinician, 'device:status')]);
  let outsiderGotIt = false;
  outsider.on('device:status', () => (outsiderGotIt = true));
  hub.context.sockets.emit(patientAudience({ id: s.patient.id, organisationId: s.admin.organisationId }), 'device:status', { deviceId: 'd1', online: true });
  const [forCaregiver, forClinician] = await received;
  t.same(forCaregiver, { deviceId: 'd1', online: true }, 'care team member receives the patient’s events');
  t.same(forClinician, { deviceId: 'd1', online: true }, 'staff receive them through the staff room');

  const denied = await outsider.emitWithAck('patient:subscribe', { patientId: s.patient.id });
  t.same(denied, { ok: false, error: { code: 'not_found', message: 'Patient not found' } }, 'a denied room join');
  const invalid = await outsider.emitWithAck('patient:subscribe', { patientId: 'nope' });
  t.equal(invalid.ok, false);
  t.equal(invalid.error.code, 'validation_failed');
  const allowed = await clinician.emitWithAck('patient:subscribe', { patientId: s.patient.id });
  t.same(allowed, { ok: true, room: `patient:${s.patient.id}` });
  t.notOk(outsiderGotIt, 'a caregiver off the team received nothing');

  const audit = await request<{ items: { action: string; outcome: string; via: string }[] }>(hub, 'GET', '/api/v1/audit?outcome=denied', { token: s.admin.token });
  t.ok(audit.body.items.some((e) => e.action === 'patient.subscribe' && e.via === 'socket'), 'the denied join is audited');
});

t.test('a revoked session cannot reconnect its socket', async (t) => {
  const session = await login(hub, s.caregiver.email);
  const socket = connectSocket(t, hub, { auth: { token: session.token } });
  await nextEvent(socket, 'connect');
  await request(hub, 'POST', '/api/v1/auth/logout', { body: { refreshToken: session.refreshToken } });
  socket.disconnect();
  socket.connect();
  t.equal((await nextEvent<{ data?: { code: string } }>(socket, 'connect_error')).data?.code, 'unauthenticated');
});

t.test('a socket that drops for a moment gets back its rooms and the events it missed, in order', async (t) => {
  const caregiver = connectSocket(t, hub, { auth: { token: s.caregiver.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(caregiver, 'connect');
  await roomsJoined(hub, caregiver);
  const patientRooms = patientAudience({ id: s.patient.id, organisationId: s.admin.organisationId });
  const otherRooms = patientAudience({ id: s.otherPatient.id, organisationId: 'another-organisation' });
  const received: unknown[] = [];
  caregiver.on('device:status', (payload: unknown) => received.push(payload));

  const first = nextEvent(caregiver, 'device:status');
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 1 });
  await first; // the client now knows its offset

  const idBefore = caregiver.id;
  await dropTransport(hub.context.sockets.io, caregiver); // as on a network blip
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 2, at: new Date('2026-12-05T10:00:00Z') });
  hub.context.sockets.emit(otherRooms, 'device:status', { deviceId: 'd2', n: 3 });
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 4 });

  await nextEvent(caregiver, 'connect');
  t.ok(caregiver.recovered, 'the session is recovered');
  t.equal(caregiver.id, idBefore, 'with the same socket id');
  while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  t.same(
    received,
    [
      { deviceId: 'd1', n: 1 },
      { deviceId: 'd1', n: 2, at: '2026-12-05T10:00:00.000Z' },
      { deviceId: 'd1', n: 4 },
    ],
    'only the events for its rooms, as JSON carries them, in order',
  );
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 5 });
  t.same(await nextEvent(caregiver, 'device:status'), { deviceId: 'd1', n: 5 }, 'and it is back in its rooms');
});

t.test('socket:ready says the rooms are set, and even an app that has received nothing else recovers', async (t) => {
  const caregiver = connectSocket(t, hub, { auth: { token: s.caregiver.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  const readies: unknown[] = [];
  caregiver.on('socket:ready', (payload: unknown) => readies.push(payload));
  const ready = nextEvent(caregiver, 'socket:ready');
  await nextEvent(caregiver, 'connect');
  t.same(await ready, { recovered: false }, 'a new session');
  const onServer = hub.context.sockets.io.of('/').sockets.get(caregiver.id as string);
  t.ok(onServer?.rooms.has(`patient:${s.patient.id}`), 'sent once the socket is in its patients’ rooms');

  await dropTransport(hub.context.sockets.io, caregiver); // before anything else came
  const patientRooms = patientAudience({ id: s.patient.id, organisationId: s.admin.organisationId });
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', sentWhile: 'away' });
  const missed = nextEvent(caregiver, 'device:status');
  await nextEvent(caregiver, 'connect');
  t.ok(caregiver.recovered, 'recovered');
  t.same(await missed, { deviceId: 'd1', sentWhile: 'away' }, 'with what was sent while it was away');
  for (let i = 0; i < 200 && readies.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(readies, [{ recovered: false }, { recovered: true }], 'and told so');
});

t.test('a client back with the session of a socket still connected gets a new session, and that socket keeps its own', async (t) => {
  const first = connectSocket(t, hub, { auth: { token: s.caregiver.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  const ready = nextEvent(first, 'socket:ready');
  await nextEvent(first, 'connect');
  await ready;
  const id = first.id as string;
  await dropTransport(hub.context.sockets.io, first); // the hub keeps the session
  const back = nextEvent(first, 'socket:ready');
  await nextEvent(first, 'connect');
  t.same(await back, { recovered: true }, 'recovered, under the same id');
  // The same session asked for again while that socket is connected (a client that noticed a drop its socket has not).
  const { _pid: pid, _lastOffset: offset } = first as unknown as { _pid: string; _lastOffset: string };
  const second = connectSocket(t, hub, { auth: { token: s.caregiver.token, pid, offset } });
  const secondReady = nextEvent(second, 'socket:ready');
  await nextEvent(second, 'connect');
  t.same(await secondReady, { recovered: false }, 'a new session');
  t.not(second.id, id, 'under a new id');
  const patientRooms = patientAudience({ id: s.patient.id, organisationId: s.admin.organisationId });
  const both = Promise.all([nextEvent(first, 'device:status'), nextEvent(second, 'device:status')]);
  hub.context.sockets.emit(patientRooms, 'device:status', { deviceId: 'd1', n: 7 });
  t.same(await both, [{ deviceId: 'd1', n: 7 }, { deviceId: 'd1', n: 7 }], 'and both receive their events');
});

/** Resolves with the reason of the socket's next disconnect. */
const disconnected = (socket: { once(event: 'disconnect', fn: (reason: string) => void): unknown }): Promise<string> => new Promise((resolve) => socket.once('disconnect', resolve));

t.test('an open socket is disconnected when its session ends: sign-out, or its user disabled', async (t) => {
  const signedOut = await login(hub, s.caregiver.email);
  const other = await login(hub, s.caregiver.email);
  const first = connectSocket(t, hub, { auth: { token: signedOut.token } });
  const second = connectSocket(t, hub, { auth: { token: other.token } });
  await Promise.all([nextEvent(first, 'connect'), nextEvent(second, 'connect')]);
  await Promise.all([roomsJoined(hub, first), roomsJoined(hub, second)]);
  let secondDropped = false;
  second.on('disconnect', () => (secondDropped = true));

  const firstGone = disconnected(first);
  t.equal((await request(hub, 'POST', '/api/v1/auth/logout', { body: { refreshToken: signedOut.refreshToken } })).status, 204);
  t.equal(await firstGone, 'io server disconnect', 'the signed-out session’s socket is closed by the hub');
  t.notOk(secondDropped, 'another session of the same user stays connected');

  const temp = await createUser(hub, s.admin, 'caregiver');
  const socket = connectSocket(t, hub, { auth: { token: temp.token } });
  await nextEvent(socket, 'connect');
  await roomsJoined(hub, socket);
  const gone = disconnected(socket);
  t.equal((await request(hub, 'PATCH', `/api/v1/users/${temp.userId}`, { token: s.admin.token, body: { disabled: true } })).status, 200);
  t.equal(await gone, 'io server disconnect', 'a disabled user’s socket is closed at once');
});

t.test('care-team changes reach open sockets: a new member starts receiving the patient’s events, a removed one stops', async (t) => {
  const member = await createUser(hub, s.admin, 'caregiver');
  const socket = connectSocket(t, hub, { auth: { token: member.token } });
  await nextEvent(socket, 'connect');
  await roomsJoined(hub, socket);
  const audience = patientAudience({ id: s.otherPatient.id, organisationId: s.admin.organisationId });
  const received: Array<{ n: number }> = [];
  socket.on('device:status', (payload: { n: number }) => received.push(payload));
  const serverSocket = () => hub.context.sockets.io.of('/').sockets.get(socket.id as string);
  const waitFor = async (condition: () => boolean) => {
    for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  await addToCareTeam(hub, s.clinician, s.otherPatient.id, member.userId);
  await waitFor(() => serverSocket()?.rooms.has(`patient:${s.otherPatient.id}`) === true);
  hub.context.sockets.emit(audience, 'device:status', { n: 1 });
  await waitFor(() => received.length === 1);
  t.same(received, [{ n: 1 }], 'added to the care team: the patient’s events arrive without reconnecting');

  const removed = await request(hub, 'DELETE', `/api/v1/patients/${s.otherPatient.id}/care-team/${member.userId}`, { token: s.clinician.token });
  t.equal(removed.status, 204);
  await waitFor(() => serverSocket()?.rooms.has(`patient:${s.otherPatient.id}`) === false);
  t.notOk(serverSocket()?.rooms.has(`patient:${s.otherPatient.id}`), 'removed: the socket left the patient’s room');
  t.ok(serverSocket()?.rooms.has(`user:${member.userId}`), 'and kept its own rooms');
  hub.context.sockets.emit(audience, 'device:status', { n: 2 });
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(received, [{ n: 1 }], 'nothing after the removal');
});

t.test('a recovering socket gets nothing it may no longer see, before or after authentication', async (t) => {
  // Signed out while disconnected: the recovery is refused, and none of the events it missed arrive first.
  const session = await login(hub, s.caregiver.email);
  const revoked = connectSocket(t, hub, { auth: { token: session.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(revoked, 'connect');
  await roomsJoined(hub, revoked);
  const patientRooms = patientAudience({ id: s.patient.id, organisationId: s.admin.organisationId });
  // What arrives on the wire, including what socket.io-client would hold back until it is connected.
  const seen: unknown[] = [];
  revoked.io.on('packet', (packet: { type: number; data?: unknown[] }) => {
    if (packet.type === 2) seen.push(packet.data?.[1]);
  });
  const first = nextEvent(revoked, 'device:status');
  hub.context.sockets.emit(patientRooms, 'device:status', { n: 1 });
  await first;
  await dropTransport(hub.context.sockets.io, revoked);
  hub.context.sockets.emit(patientRooms, 'device:status', { secret: 'missed while away' });
  await request(hub, 'POST', '/api/v1/auth/logout', { body: { refreshToken: session.refreshToken } });
  t.equal((await nextEvent<{ data?: { code: string } }>(revoked, 'connect_error')).data?.code, 'unauthenticated', 'the recovery is refused');
  revoked.close();
  t.same(seen, [{ n: 1 }], 'and the event it missed was not sent to it, not even before its authentication failed');

  // Someone else signs in on the same client while it is disconnected: they recover the session id, not its rooms or events.
  const caregiver = await login(hub, s.caregiver.email);
  const shared = connectSocket(t, hub, { auth: { token: caregiver.token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(shared, 'connect');
  await roomsJoined(hub, shared);
  const got: unknown[] = [];
  shared.on('device:status', (payload: unknown) => got.push(payload));
  shared.on('alert:notify', (payload: unknown) => got.push(payload));
  const before = nextEvent(shared, 'device:status');
  hub.context.sockets.emit(patientRooms, 'device:status', { n: 1 });
  await before;
  await dropTransport(hub.context.sockets.io, shared);
  hub.context.sockets.emit(patientRooms, 'device:status', { n: 2 });
  hub.context.sockets.emit(`user:${s.caregiver.userId}`, 'alert:notify', { forCaregiverOnly: true });
  (shared.auth as { token: string }).token = s.outsider.token;
  const sharedReady = nextEvent(shared, 'socket:ready');
  await nextEvent(shared, 'connect');
  await roomsJoined(hub, shared);
  t.same(await sharedReady, { recovered: false }, 'told it is not recovered (it keeps its socket id), so it refetches');
  const rooms = [...(hub.context.sockets.io.of('/').sockets.get(shared.id as string)?.rooms ?? [])];
  t.notOk(rooms.includes(`user:${s.caregiver.userId}`), 'not in the first user’s room');
  t.notOk(rooms.includes(`patient:${s.patient.id}`), 'nor in the room of a patient the new user may not see');
  t.ok(rooms.includes(`user:${s.outsider.userId}`), 'but in their own');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(got, [{ n: 1 }], 'none of the first user’s missed events reach the second');
});

t.test('a socket’s client → server events are budgeted: past 100 in 10 s they are refused as rate_limited', async (t) => {
  const user = await createUser(hub, s.admin, 'caregiver');
  const socket = connectSocket(t, hub, { auth: { token: user.token } });
  await nextEvent(socket, 'connect');
  const answers = await Promise.all(Array.from({ length: 110 }, () => socket.emitWithAck('patient:unsubscribe', { patientId: s.patient.id })));
  const refused = answers.filter((answer) => answer.ok === false);
  t.equal(answers.filter((answer) => answer.ok === true).length, 100, 'the first 100 are handled');
  t.equal(refused.length, 10, 'the rest refused');
  t.same(refused[0], { ok: false, error: { code: 'rate_limited', message: 'More than 100 events in 10 s; this one was not handled' } });
  t.ok(socket.connected, 'and the socket stays connected');
  const another = connectSocket(t, hub, { auth: { token: user.token } });
  await nextEvent(another, 'connect');
  t.same(await another.emitWithAck('patient:unsubscribe', { patientId: s.patient.id }), { ok: true, room: `patient:${s.patient.id}` }, 'another socket of the same user has its own budget');
});

t.test('a recovering socket misses nothing sent while its access is checked', (t) => recoversWithoutGap(t, hub, s.caregiver.token));
