/**
 * Socket.IO on the hub's HTTP server. Clients authenticate in the handshake
 * (`auth.token`); the authenticator comes from the identity feature and, with
 * none registered, every socket is refused. Connection-state recovery is on so
 * a short disconnect loses no event, with `skipMiddlewares: false` so a
 * recovering socket is authenticated again (a revoked token cannot come back).
 *
 * Client → server events that change state go through `handle()`, which
 * validates the payload against schemas/ and always answers the ack with
 * `{ok:true, …}` or `{ok:false, error:{code, message, details?}}`.
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Redis } from 'ioredis';
import { AppError, toPublicError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { schemas } from '../../schemas.js';
import { CompactRecoveryAdapter } from './recovery-adapter.js';

/** Who is behind a socket, as the identity feature resolved it. */
export interface SocketPrincipal {
  userId: string;
  organisationId: string;
  role: string;
}

export type SocketAuthenticator = (token: string) => Promise<SocketPrincipal>;
export type ConnectionHook = (socket: Socket, principal: SocketPrincipal) => Promise<void> | void;
export type Ack = (response: AckResponse) => void;
export type AckResponse = ({ ok: true } & Record<string, unknown>) | { ok: false; error: { code: string; message: string; details?: unknown } };

export interface SocketHandler<T> {
  /** Schema name for the payload (e.g. `socket/patient-subscribe`). */
  schema?: string;
  handle(payload: T, context: { socket: Socket; principal: SocketPrincipal }): Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
}

export interface SocketTransport {
  readonly io: Server;
  setAuthenticator(authenticator: SocketAuthenticator): void;
  onConnection(hook: ConnectionHook): void;
  handle<T>(event: string, handler: SocketHandler<T>): void;
  /** Emits to one or more rooms (`patient:{id}`, `conversation:{id}`, `user:{id}`); a socket in several gets it once. */
  emit(rooms: string | string[], event: string, payload: unknown): void;
  /**
   * Tells the other hub instances (through the Socket.IO adapter: Redis when REDIS_URL is set;
   * a lone instance has nobody to tell). Features use it to drop what they keep in memory about
   * something another instance changed. Not to the instance itself: it acts on its own changes.
   */
  toPeers(event: PeerEvent, payload: PeerPayload): void;
  onPeer(event: PeerEvent, handler: (payload: PeerPayload) => void): void;
  close(): Promise<void>;
}

/** Messages between hub instances; prefixed so they cannot collide with Socket.IO's own events. */
export type PeerEvent = `peer:${string}`;
export type PeerPayload = Record<string, string | number | boolean | null>;

interface Deps {
  httpServer: HttpServer;
  logger: Logger;
  metrics: Metrics;
  corsOrigin: string;
  redis?: Redis;
}

const PRINCIPAL = 'principal';

export function principalOf(socket: Socket): SocketPrincipal {
  return socket.data[PRINCIPAL] as SocketPrincipal;
}

export function createSocketTransport({ httpServer, logger, metrics, corsOrigin, redis }: Deps): SocketTransport {
  const log = logger.child({ component: 'socket' });
  let authenticator: SocketAuthenticator = async () => {
    throw new AppError('unauthenticated', 'No socket authenticator is configured');
  };
  const hooks: ConnectionHook[] = [];
  const handlers = new Map<string, SocketHandler<unknown>>();

  const io = new Server(httpServer, {
    cors: { origin: corsOrigin === '*' ? true : corsOrigin.split(',') },
    maxHttpBufferSize: 256 * 1024,
    // MQTT-over-WebSocket shares the HTTP server; unknown upgrades are handled in the HTTP layer.
    destroyUpgrade: false,
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: false },
    adapter: redis ? createAdapter(redis) : CompactRecoveryAdapter,
  });

  io.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: unknown }).token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      return next(connectError(new AppError('unauthenticated', 'auth.token is required')));
    }
    authenticator(token).then(
      (principal) => {
        socket.data[PRINCIPAL] = principal;
        next();
      },
      (error: unknown) => next(connectError(error)),
    );
  });

  io.on('connection', (socket) => {
    metrics.socketConnections.inc();
    socket.on('disconnect', () => metrics.socketConnections.dec());
    const principal = principalOf(socket);
    for (const [event, handler] of handlers) socket.on(event, (payload: unknown, ack?: unknown) => dispatch(socket, event, handler, payload, ack));
    // On recovery the socket keeps its rooms; hooks still run so they can re-check access.
    void runHooks(socket, principal);
  });

  async function runHooks(socket: Socket, principal: SocketPrincipal): Promise<void> {
    try {
      for (const hook of hooks) await hook(socket, principal);
    } catch (error) {
      log.error({ err: error, socketId: socket.id }, 'socket connection hook failed');
      socket.disconnect(true);
    }
  }

  async function dispatch(socket: Socket, event: string, handler: SocketHandler<unknown>, payload: unknown, ack: unknown): Promise<void> {
    const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => undefined;
    try {
      const value = handler.schema ? schemas().validate(handler.schema, payload) : payload;
      const result = await handler.handle(value, { socket, principal: principalOf(socket) });
      reply({ ok: true, ...(result ?? {}) });
    } catch (error) {
      if (!(error instanceof AppError)) log.error({ err: error, event, socketId: socket.id }, 'socket handler failed');
      const problem = toPublicError(error);
      reply({ ok: false, error: { code: problem.code, message: problem.message, ...(problem.details ? { details: problem.details } : {}) } });
    }
  }

  return {
    io,
    setAuthenticator(next) {
      authenticator = next;
    },
    onConnection(hook) {
      hooks.push(hook);
    },
    handle(event, handler) {
      handlers.set(event, handler as SocketHandler<unknown>);
    },
    emit(rooms, event, payload) {
      io.to(rooms).emit(event, payload);
    },
    toPeers(event, payload) {
      // The in-memory adapter would only warn that it cannot: with one instance there are no peers.
      if (redis) io.serverSideEmit(event, payload);
    },
    onPeer(event, handler) {
      io.on(event, (payload: unknown) => {
        if (typeof payload !== 'object' || payload === null) return log.warn({ event }, 'peer message without a payload');
        try {
          handler(payload as PeerPayload);
        } catch (error) {
          log.error({ err: error, event }, 'peer message handler failed');
        }
      });
    },
    async close() {
      io.disconnectSockets(true);
      // Not io.close(): it would also close the shared HTTP server, which the HTTP layer owns.
      // Closing the adapters stops the Redis streams adapter's polling clients.
      for (const namespace of io._nsps.values()) await namespace.adapter.close();
      io.engine.close();
    },
  };
}

/** Socket.IO sends `err.message` and `err.data` to the client's connect_error. */
function connectError(error: unknown): Error {
  const problem = toPublicError(error);
  return Object.assign(new Error(problem.message), { data: { code: problem.code } });
}
