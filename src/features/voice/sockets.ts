/**
 * Voice over Socket.IO: `voice:function_call {sessionId, request}` relays a FunctionCallRequest as the
 * REST route does (service.relay: the session's own user, access checked again, each call once),
 * for clients that already hold a socket to the hub. Acked `{ok:true, responses}`.
 */
import type { VoiceFunctionCallRequest } from '../../generated/http/voice-function-call.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { socketActor } from '../identity/socket.js';
import type { VoiceService } from './service.js';

export function registerVoiceSockets(sockets: SocketTransport, service: VoiceService): void {
  sockets.handle<{ sessionId: string; request: VoiceFunctionCallRequest }>('voice:function_call', {
    schema: 'socket/voice-function-call',
    async handle({ sessionId, request }, { socket }) {
      return service.relay(socketActor(socket), sessionId, request.functions);
    },
  });
}
