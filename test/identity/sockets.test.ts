import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { careScenario, login } from '../helpers/factories.js';
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

  const serverSide = (): boolean => hub.context.sockets.io.of('/').sockets.has(caregiver.id as string);
  const idBefore = caregiver.id;
  caregiver.io.engine.close(); // the transport drops, as on a network blip
  while (serverSide()) await new Promise((resolve) => setTimeout(resolve, 5));
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
