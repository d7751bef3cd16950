/** Socket.IO: `alert:ack` and `alert:resolve`, acked with {ok:true, alert} or {ok:false, error}; audited like REST. */
import type { SocketTransport } from '../../transports/socket/server.js';
import { socketActor } from '../identity/socket.js';
import type { AlertService } from './service.js';

export function registerAlertSockets(sockets: SocketTransport, service: AlertService): void {
  sockets.handle<{ alertId: string; note?: string }>('alert:ack', {
    schema: 'socket/alert-ack',
    async handle({ alertId, note }, { socket }) {
      return { alert: await service.acknowledge(socketActor(socket), alertId, note) };
    },
  });
  sockets.handle<{ alertId: string; note: string }>('alert:resolve', {
    schema: 'socket/alert-resolve',
    async handle({ alertId, note }, { socket }) {
      return { alert: await service.resolve(socketActor(socket), alertId, note) };
    },
  });
}
