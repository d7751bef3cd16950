/**
 * Chat over Socket.IO. Client → server events are acked `{ok:true,…}` / `{ok:false, error}`:
 *
 * - `conversation:join {conversationId}`: watch a conversation (room `conversation:{id}`) after a policy
 *   check; the ack carries the conversation and, when an answer is being written, its text so far and
 *   `tokens` (apply `chat:token` events whose index is >= tokens); never an answer left by a stopped
 *   hub, which would never end. Older messages: REST.
 * - `conversation:leave {conversationId}`.
 * - `chat:send {conversationId, content}`: the sender joins the room; ack `{conversationId, userMessageId,
 *   messageId}`; the room then gets `chat:started`, `chat:token`… and `chat:complete` or `chat:error`.
 * - `chat:cancel {conversationId, messageId?}`: ack `{cancelled, messageId}`; `cancelled: false` with a
 *   messageId when that answer had already finished (it ends as it would have) or its instance stopped.
 *
 * A socket's disconnect does not cancel an answer: others may be watching, and the answer is stored.
 * On connection-state recovery, and when its user's access changes, a socket keeps only the conversation
 * rooms it may still read (the authorizer below).
 */
import { rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited } from '../identity/actor.js';
import type { UserPrincipal } from '../identity/principal.js';
import { socketActor } from '../identity/socket.js';
import type { AssertConversation } from './access.js';
import type { ChatService } from './chat-service.js';
import { toConversationView } from './views.js';

const CONVERSATION_ROOM = /^conversation:([a-f0-9]{24})$/;

export function registerConversationSockets(sockets: SocketTransport, chat: ChatService, assertConversation: AssertConversation, audit: AuditLog): void {
  // A conversation room is held while the conversation may be read (checked on recovery and when access changes).
  sockets.authorizeRooms('conversation:', (principal, room) => {
    const id = CONVERSATION_ROOM.exec(room)?.[1];
    return id !== undefined && assertConversation(principal as UserPrincipal, id, 'conversation.read');
  });

  sockets.handle<{ conversationId: string }>('conversation:join', {
    schema: 'socket/chat-conversation',
    async handle({ conversationId }, { socket }) {
      const actor = socketActor(socket);
      const { conversation } = await audited(audit, actor, { action: 'conversation.join', objectType: 'conversation', objectId: conversationId }, () =>
        assertConversation(actor.principal, conversationId, 'conversation.read'),
      );
      const room = rooms.conversation(conversationId);
      // Join first, then read the live state: a token after this point reaches the socket; one before it is in the snapshot.
      await socket.join(room);
      return { room, conversation: toConversationView(conversation), streaming: await chat.snapshot(conversationId) };
    },
  });

  sockets.handle<{ conversationId: string }>('conversation:leave', {
    schema: 'socket/chat-conversation',
    async handle({ conversationId }, { socket }) {
      const room = rooms.conversation(conversationId);
      await socket.leave(room);
      return { room };
    },
  });

  sockets.handle<{ conversationId: string; content: string }>('chat:send', {
    schema: 'socket/chat-send',
    async handle(input, { socket }) {
      const handle = await chat.send(socketActor(socket), input, { beforeStart: () => socket.join(rooms.conversation(input.conversationId)) });
      return { conversationId: handle.conversationId, userMessageId: handle.userMessageId, messageId: handle.messageId };
    },
  });

  sockets.handle<{ conversationId: string; messageId?: string }>('chat:cancel', {
    schema: 'socket/chat-cancel',
    async handle(input, { socket }) {
      return chat.cancel(socketActor(socket), input);
    },
  });
}
