/**
 * REST for conversations and chat. Thin: validate, call the service, answer. `POST /chat/message`
 * answers with Server-Sent Events when `stream` is true (session_established → token… → complete |
 * error) and with JSON otherwise; a client that goes away cancels the answer either way.
 */
import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { ChatMessageRequest } from '../../generated/http/chat-message.js';
import type { PageRequest } from '../../store/pagination.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { ChatService, TurnHandle } from './chat-service.js';
import type { ConversationCreate, ConversationQuery, ConversationService } from './conversation-service.js';
import { openEventStream, type EventStream } from './sse.js';

type Id = { id: string };

export interface ChatRouteOptions {
  /** Comment lines on idle SSE streams. */
  heartbeatMs: number;
}

export function registerConversationRoutes(router: Router, requireUser: Middleware, conversations: ConversationService, chat: ChatService, options: ChatRouteOptions): void {
  router.post('/conversations', requireUser, validate({ body: 'http/conversation-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await conversations.create(actorOf(ctx), valid<ConversationCreate>(ctx.state, 'body'));
  });
  router.get('/conversations', requireUser, validate({ query: 'http/conversation-query' }), async (ctx) => {
    ctx.body = await conversations.list(actorOf(ctx), valid<ConversationQuery>(ctx.state, 'query'));
  });
  router.get('/conversations/:id', requireUser, validate({ params: 'http/conversation-params' }), async (ctx) => {
    ctx.body = await conversations.get(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
  });
  router.get('/conversations/:id/messages', requireUser, validate({ params: 'http/conversation-params', query: 'http/page-query' }), async (ctx) => {
    ctx.body = await conversations.messages(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest>(ctx.state, 'query'));
  });

  router.post('/chat/message', requireUser, validate({ body: 'http/chat-message' }), async (ctx) => {
    const input = valid<ChatMessageRequest>(ctx.state, 'body');
    const message = { conversationId: input.conversationId, content: input.content };
    if (input.stream === true) await streamAnswer(ctx, chat, message, options);
    else await answerAsJson(ctx, chat, message);
  });
}

/** SSE. Errors before the stream opens (access, validation, conflict) are still problem+json. */
async function streamAnswer(ctx: Context, chat: ChatService, message: { conversationId: string; content: string }, options: ChatRouteOptions): Promise<void> {
  let stream: EventStream | undefined;
  const handle = await chat.send(actorOf(ctx), message, {
    listener: {
      started(event) {
        stream = openEventStream(ctx, { heartbeatMs: options.heartbeatMs });
        stream.send('session_established', event);
      },
      token: (event) => stream?.send('token', event),
      complete(event) {
        stream?.send('complete', event);
        stream?.end();
      },
      error(event) {
        stream?.send('error', event);
        stream?.end();
      },
    },
  });
  stream?.onAbort(() => handle.cancel('client_disconnected'));
  await handle.done;
}

async function answerAsJson(ctx: Context, chat: ChatService, message: { conversationId: string; content: string }): Promise<void> {
  const handle: TurnHandle = await chat.send(actorOf(ctx), message);
  const onClose = (): void => {
    if (!ctx.res.writableFinished) handle.cancel('client_disconnected');
  };
  ctx.res.once('close', onClose);
  if (ctx.res.destroyed || ctx.req.socket.destroyed) handle.cancel('client_disconnected');
  const result = await handle.done;
  ctx.res.off('close', onClose);
  if (result.failure) {
    // The caller went away: nobody to answer.
    if (result.failure.code === 'cancelled' && ctx.res.destroyed) return;
    // After a tool recorded something, the answer (status error, with its toolCalls) rather than an
    // error a client would retry: sent again, the question would record it again.
    if (result.failure.appError && !result.failure.acted) throw result.failure.appError;
  }
  ctx.body = { conversationId: handle.conversationId, userMessage: handle.started.userMessage, message: result.message };
}
