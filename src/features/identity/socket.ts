/**
 * Identity on Socket.IO: the handshake token becomes the socket's principal;
 * a socket joins `user:{id}`, `session:{id}` (its login session, so that
 * ending the session disconnects it), its organisation's staff room when it is
 * an admin or clinician, and the `patient:{id}` rooms of the patients it may
 * see. `patient:subscribe` / `patient:unsubscribe` join and leave a patient
 * room, asking the policy first. The same rules authorize these rooms when a
 * socket recovers its session or its user's access changes (server.ts).
 */
import type { Socket } from 'socket.io';
import { rooms } from '../../transports/socket/rooms.js';
import type { SocketPrincipal, SocketTransport } from '../../transports/socket/server.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from './actor.js';
import type { AuthService } from './auth-service.js';
import { STAFF_ROLES, type Policy } from './policy.js';
import type { UserPrincipal } from './principal.js';


export function socketActor(socket: Socket): Actor {
  return { principal: socket.data.principal as UserPrincipal, via: 'socket', ip: socket.handshake.address, requestId: socket.id };
}

export function registerIdentitySockets(sockets: SocketTransport, auth: AuthService, policy: Policy, audit: AuditLog): void {
  sockets.setAuthenticator((token) => auth.authenticate(token));

  sockets.onConnection(async (socket, principal) => {
    const user = principal as UserPrincipal;
    // The user's own room at once: an alert notice sent while the patients are looked up reaches
    // this app (and the alerts' log, which asks whether anyone is in the room, says so).
    await socket.join(rooms.user(user.userId));
    // Staff see every patient through the staff room; others join each patient room they may see.
    // The session room last: a socket in it has all its rooms (tests wait for it).
    const joined = STAFF_ROLES.has(user.role) ? [rooms.organisationStaff(user.organisationId)] : (await policy.visiblePatientIds(user)).map(rooms.patient);
    await socket.join([...joined, rooms.session(user.sessionId)]);
    // Signed out between the handshake's check and the join above: the disconnect sent to its
    // session room found nobody there yet. Checked again now that the socket is in it.
    if (!(await auth.isSessionLive(user.sessionId))) socket.disconnect(true);
  });

  const userOf = (principal: SocketPrincipal) => principal as UserPrincipal;
  sockets.authorizeRooms('user:', (principal, room) => room === rooms.user(userOf(principal).userId));
  sockets.authorizeRooms('session:', (principal, room) => room === rooms.session(userOf(principal).sessionId));
  sockets.authorizeRooms('organisation:', (principal, room) => STAFF_ROLES.has(principal.role) && room === rooms.organisationStaff(principal.organisationId));
  sockets.authorizeRooms('patient:', (principal, room) => policy.assertPatient(userOf(principal), room.slice('patient:'.length), 'patient.read'));

  sockets.handle<{ patientId: string }>('patient:subscribe', {
    schema: 'socket/patient-subscription',
    async handle({ patientId }, { socket }) {
      const actor = socketActor(socket);
      await audited(audit, actor, { action: 'patient.subscribe', objectType: 'patient', objectId: patientId }, () => policy.assertPatient(actor.principal, patientId, 'patient.read'));
      await socket.join(rooms.patient(patientId));
      return { room: rooms.patient(patientId) };
    },
  });

  sockets.handle<{ patientId: string }>('patient:unsubscribe', {
    schema: 'socket/patient-subscription',
    async handle({ patientId }, { socket }) {
      await socket.leave(rooms.patient(patientId));
      return { room: rooms.patient(patientId) };
    },
  });
}
