/**
 * Identity on Socket.IO: the handshake token becomes the socket's principal;
 * a socket joins `user:{id}`, its organisation's staff room when it is an
 * admin or clinician, and the `patient:{id}` rooms of the patients it may see.
 * `patient:subscribe` / `patient:unsubscribe` join and leave a patient room,
 * asking the policy first. Hooks run again on connection-state recovery, so a
 * recovered socket loses rooms it may no longer see.
 */
import type { Socket } from 'socket.io';
import { rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from './actor.js';
import type { AuthService } from './auth-service.js';
import type { Policy } from './policy.js';
import type { UserPrincipal } from './principal.js';

const STAFF_ROLES = new Set(['admin', 'clinician']);

export function socketActor(socket: Socket): Actor {
  return { principal: socket.data.principal as UserPrincipal, via: 'socket', ip: socket.handshake.address, requestId: socket.id };
}

export function registerIdentitySockets(sockets: SocketTransport, auth: AuthService, policy: Policy, audit: AuditLog): void {
  sockets.setAuthenticator((token) => auth.authenticate(token));

  sockets.onConnection(async (socket, principal) => {
    const user = principal as UserPrincipal;
    const visible = new Set((await policy.visiblePatientIds(user)).map(rooms.patient));
    for (const room of socket.rooms) if (room.startsWith('patient:') && !visible.has(room)) await socket.leave(room);
    const joined = [rooms.user(user.userId), ...(STAFF_ROLES.has(user.role) ? [rooms.organisationStaff(user.organisationId)] : [])];
    // Staff see every patient through the staff room; others join each patient room they may see.
    if (!STAFF_ROLES.has(user.role)) joined.push(...visible);
    await socket.join(joined);
  });

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
