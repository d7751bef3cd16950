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
 *
 * A socket lives as long as its credential: when the principal's `expiresAt` passes (an access
 * token's expiry) without an `auth:refresh` bringing a newer one of the same principal, the socket
 * is told (`auth:expired`) and its connection closed as a dropped transport, so the client
 * reconnects with a fresh token and recovers what it missed — or stays out.
 *
 * Rooms are access: every room a socket holds is one a feature's authorizer
 * (`authorizeRooms`, by room prefix) allows its principal, checked again
 * whenever that can change — on connection-state recovery, and when a feature
 * says a user's access changed (`reauthorize`) or their session ended
 * (`disconnect`). Socket.IO itself would give a recovering socket its old rooms
 * and the events it missed before authenticating it (socket.io 4.8 joins and
 * sends them in the socket's constructor, before the middlewares run): here
 * the adapter's answer is withheld until the socket is authenticated, and
 * `resume` then restores only the rooms the new principal may hold.
 */
import type { Server as HttpServer } from 'node:http';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { Server, type Socket } from 'socket.io';
import type { Session } from 'socket.io-adapter';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Redis } from 'ioredis';
import { AppError, toPublicError } from '../../errors.js';
import type { AuthExpired } from '../../generated/socket/auth-expired.js';
import type { AuthRefresh } from '../../generated/socket/auth-refresh.js';
import type { SocketReady } from '../../generated/socket/socket-ready.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Clock } from '../../ports/clock.js';
import { schemas } from '../../schemas.js';
import { CompactRecoveryAdapter } from './recovery-adapter.js';
import { rooms } from './rooms.js';

/** Who is behind a socket, as the identity feature resolved it. */
export interface SocketPrincipal {
  userId: string;
  organisationId: string;
  role: string;
  /** When the credential it was read from stops being valid (an access token's expiry); the socket is closed then. */
  expiresAt?: Date;
}

export type SocketAuthenticator = (token: string) => Promise<SocketPrincipal>;
export type ConnectionHook = (socket: Socket, principal: SocketPrincipal) => Promise<void> | void;
export type Ack = (response: AckResponse) => void;
export type AckResponse = ({ ok: true } & Record<string, unknown>) | { ok: false; error: { code: string; message: string; details?: unknown } };

/**
 * Whether the principal may hold `room` (one with the prefix it was registered for): allowed unless
 * it answers false or rejects — a feature's access check (which throws when refused) can be
 * returned as it is.
 */
export type RoomAuthorizer = (principal: SocketPrincipal, room: string) => unknown;

export interface SocketHandler<T> {
  /** Schema name for the payload (e.g. `socket/patient-subscribe`). */
  schema?: string;
  handle(payload: T, context: { socket: Socket; principal: SocketPrincipal }): Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
}

/** The handler of an event nobody handles: not found. */
const unknownEvent = (event: string): SocketHandler<unknown> => ({
  handle() {
    throw new AppError('not_found', `No such event: ${String(event).slice(0, 100)}`);
  },
});

export interface SocketTransport {
  readonly io: Server;
  setAuthenticator(authenticator: SocketAuthenticator): void;
  onConnection(hook: ConnectionHook): void;
  handle<T>(event: string, handler: SocketHandler<T>): void;
  /** Rooms starting with `prefix` are held only as `authorizer` allows; a room no authorizer claims is never restored. */
  authorizeRooms(prefix: string, authorizer: RoomAuthorizer): void;
  /** A user's access changed: their sockets, on every instance, leave the rooms they may no longer hold. */
  reauthorize(userId: string): void;
  /** Every socket in `holders` (e.g. `user:{id}`) joins `room`, on every instance: access granted while connected. */
  addToRoom(holders: string, room: string): void;
  /** Ends the connection of every socket in `room`, on every instance (e.g. `session:{id}` when that session ends). */
  disconnect(room: string): void;
  /** Emits to one or more rooms (`patient:{id}`, `conversation:{id}`, `user:{id}`); a socket in several gets it once. */
  emit(rooms: string | string[], event: string, payload: unknown): void;
  /**
   * Whether an event sent to `room` now reaches anyone: a socket in it, or one that dropped within
   * the recovery window and gets it on reconnecting. Undefined with several instances (REDIS_URL):
   * the others' sockets are not known here.
   */
  reaches(room: string): boolean | undefined;
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
  clock: Clock;
  redis?: Redis;
}

const PRINCIPAL = 'principal';

export function principalOf(socket: Socket): SocketPrincipal {
  return socket.data[PRINCIPAL] as SocketPrincipal;
}

export function createSocketTransport({ httpServer, logger, metrics, corsOrigin, clock, redis }: Deps): SocketTransport {
  const log = logger.child({ component: 'socket' });
  let authenticator: SocketAuthenticator = async () => {
    throw new AppError('unauthenticated', 'No socket authenticator is configured');
  };
  const hooks: ConnectionHook[] = [];
  const handlers = new Map<string, SocketHandler<unknown>>();
  const authorizers = new Map<string, RoomAuthorizer>();
  const expiry = expiryTimers(clock, log);
  handlers.set(REFRESH_EVENT, {
    schema: 'socket/auth-refresh',
    async handle(payload, { socket, principal }) {
      const next = await authenticator((payload as AuthRefresh).token);
      if (!samePrincipal(principal, next)) throw new AppError('forbidden', 'The token belongs to another user or login session');
      // Closed while the token was checked (expired meanwhile): nothing to extend.
      if (!socket.connected) throw new AppError('unauthenticated', 'The socket closed before the token was checked');
      // Refreshes answered out of order (or an older token still valid) never shorten its life.
      const current = principalOf(socket);
      if (later(next.expiresAt, current.expiresAt)) {
        socket.data[PRINCIPAL] = next;
        expiry.arm(socket, next.expiresAt);
      }
      return { expiresAt: principalOf(socket).expiresAt?.toISOString() ?? null };
    },
  });
  const budget = new RateLimiterMemory({ keyPrefix: 'socket-events', points: EVENTS_PER_WINDOW, duration: BUDGET_WINDOW_SECONDS });
  /**
   * Every client → server event costs the store a query or more (and denied ones an audit record):
   * a socket may send so many. Per socket, not per user: a dashboard's many sockets of one user
   * (or a load test's) each join their rooms.
   */
  const withinBudget = async (socketId: string): Promise<void> => {
    try {
      await budget.consume(socketId);
    } catch {
      throw new AppError('rate_limited', `More than ${EVENTS_PER_WINDOW} events in ${BUDGET_WINDOW_SECONDS} s; this one was not handled`);
    }
  };

  const io = new Server(httpServer, {
    cors: { origin: corsOrigin === '*' ? true : corsOrigin.split(',') },
    maxHttpBufferSize: 256 * 1024,
    // MQTT-over-WebSocket shares the HTTP server; unknown upgrades are handled in the HTTP layer.
    destroyUpgrade: false,
    connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: false },
    // Keys (the stream, sessions) carry the client's REDIS_KEY_PREFIX; pub/sub channels have no keys, so they get it here.
    adapter: redis ? createAdapter(redis, { channelPrefix: `${redis.options.keyPrefix ?? ''}socket.io` }) : CompactRecoveryAdapter,
  });
  const recovery = withholdRecovery(io, log);

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
    socket.on('disconnect', () => {
      metrics.socketConnections.dec();
      expiry.disarm(socket);
    });
    const principal = principalOf(socket);
    expiry.arm(socket, principal.expiresAt);
    for (const [event, handler] of handlers) socket.on(event, (payload: unknown, ack?: unknown) => dispatch(socket, event, handler, payload, ack));
    // An event nobody handles is answered too, so that a client's ack does not wait for its timeout.
    // Dispatched like any event, so it is charged to the socket's budget and answered the same way.
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = args.at(-1);
      if (handlers.has(event) || typeof ack !== 'function') return;
      void dispatch(socket, event, unknownEvent(event), undefined, ack);
    });
    void connected(socket, principal);
  });
  function toPeers(event: PeerEvent, payload: PeerPayload): void {
    // The in-memory adapter would only warn that it cannot: with one instance there are no peers.
    if (redis) io.serverSideEmit(event, payload);
  }

  function onPeer(event: PeerEvent, handler: (payload: PeerPayload) => void): void {
    io.on(event, (payload: unknown) => {
      if (typeof payload !== 'object' || payload === null) return log.warn({ event }, 'peer message without a payload');
      try {
        handler(payload as PeerPayload);
      } catch (error) {
        log.error({ err: error, event }, 'peer message handler failed');
      }
    });
  }

  onPeer(REAUTHORIZE, ({ userId }) => {
    if (typeof userId === 'string') void reauthorizeHere(userId);
  });

  async function connected(socket: Socket, principal: SocketPrincipal): Promise<void> {
    try {
      for (const hook of hooks) await hook(socket, principal);
      const recovered = socket.recovered && (await resume(socket, principal));
      if (socket.connected) announceReady(socket, recovered);
    } catch (error) {
      log.error({ err: error, socketId: socket.id }, 'socket connection hook failed');
      socket.disconnect(true);
    }
  }

  /**
   * `socket:ready` once the socket is in its rooms. Through the adapter, to the socket's own room, so
   * that it carries a recovery offset: a client that has received no event holds none, and
   * socket.io-client then does not even ask to recover (whatever is sent while it is away is lost).
   */
  function announceReady(socket: Socket, recovered: boolean): void {
    const ready: SocketReady = { recovered };
    io.to(socket.id).emit(READY_EVENT, ready);
  }

  /** The subset of `candidates` the principal may hold, as the authorizers of their prefixes answer. */
  async function allowedRooms(principal: SocketPrincipal, candidates: string[]): Promise<Set<string>> {
    const verdicts = await Promise.all(
      candidates.map(async (room) => {
        const authorize = [...authorizers].find(([prefix]) => room.startsWith(prefix))?.[1];
        if (!authorize) return false;
        return Promise.resolve(authorize(principal, room)).then(
          (verdict) => verdict !== false,
          () => false,
        );
      }),
    );
    return new Set(candidates.filter((_room, index) => verdicts[index]));
  }

  /**
   * A recovered socket, now authenticated and in the rooms its hooks joined: its other rooms are
   * restored where still allowed, and the events it missed are sent — only if every one of its
   * rooms is still allowed, since missed events do not say which room they were for. The missed
   * events are read again after the access checks, so that they include what was sent while the
   * socket was being authenticated and checked; from that read to the join nothing can come in
   * between (see `missedSince`). An event sent meanwhile to a room the hooks had joined again (the
   * user's) arrives twice.
   */
  async function resume(socket: Socket, principal: SocketPrincipal): Promise<boolean> {
    const { pid, offset } = socket.handshake.auth as { pid?: unknown; offset?: unknown };
    if (typeof pid !== 'string' || typeof offset !== 'string') return false;
    const first = recovery.withheld(pid);
    if (!first) return false;
    const candidates = first.rooms.filter((room) => room !== socket.id && !socket.rooms.has(room));
    const allowed = await allowedRooms(principal, candidates);
    if (!socket.connected) return false;
    const missed = await recovery.missedSince(first, offset, () => socket.join([...allowed]));
    if (allowed.size < candidates.length) {
      log.info({ socketId: socket.id, refused: candidates.filter((room) => !allowed.has(room)) }, 'recovered socket lost rooms; its missed events are not replayed');
      return false;
    }
    if (missed === undefined) {
      log.info({ socketId: socket.id }, 'what a recovered socket missed is no longer all kept; not replayed');
      return false;
    }
    for (const data of missed) (socket as unknown as PacketWriter).packet({ type: EVENT_PACKET, data });
    return true;
  }

  /** This instance's sockets of `userId` leave the rooms they may no longer hold. */
  async function reauthorizeHere(userId: string): Promise<void> {
    const nsp = io.of('/');
    for (const socketId of nsp.adapter.rooms.get(rooms.user(userId)) ?? []) {
      const socket = nsp.sockets.get(socketId);
      if (!socket) continue;
      try {
        const held = [...socket.rooms].filter((room) => room !== socket.id);
        const allowed = await allowedRooms(principalOf(socket), held);
        for (const room of held) if (!allowed.has(room)) await socket.leave(room);
      } catch (error) {
        log.error({ err: error, socketId }, 'could not check a socket’s rooms again; disconnecting it');
        socket.disconnect(true);
      }
    }
  }

  async function dispatch(socket: Socket, event: string, handler: SocketHandler<unknown>, payload: unknown, ack: unknown): Promise<void> {
    const reply: Ack = typeof ack === 'function' ? (ack as Ack) : () => undefined;
    try {
      await withinBudget(socket.id);
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
    authorizeRooms(prefix, authorizer) {
      authorizers.set(prefix, authorizer);
    },
    reauthorize(userId) {
      void reauthorizeHere(userId);
      toPeers(REAUTHORIZE, { userId });
    },
    addToRoom(holders, room) {
      io.in(holders).socketsJoin(room);
    },
    disconnect(room) {
      io.in(room).disconnectSockets(true);
    },
    emit(rooms, event, payload) {
      io.to(rooms).emit(event, payload);
    },
    reaches(room) {
      const adapter = io.of('/').adapter;
      if (!(adapter instanceof CompactRecoveryAdapter)) return undefined;
      return (adapter.rooms.get(room)?.size ?? 0) > 0 || adapter.recoverableIn(room);
    },
    toPeers,
    onPeer,
    async close() {
      io.disconnectSockets(true);
      // Not io.close(): it would also close the shared HTTP server, which the HTTP layer owns.
      // Closing the adapters stops the Redis streams adapter's polling clients.
      for (const namespace of io._nsps.values()) await namespace.adapter.close();
      io.engine.close();
    },
  };
}

/** Client → server events per socket and window: far above what a person's app sends. */
const EVENTS_PER_WINDOW = 100;
const BUDGET_WINDOW_SECONDS = 10;

/** Tells the other instances to check a user's sockets' rooms again (see `reauthorize`). */
const REAUTHORIZE = 'peer:socket-reauthorize';
/** socket.io-parser's EVENT packet type. */
const EVENT_PACKET = 2;
/** Socket.IO's own way of sending one packet to one socket (what it uses to replay missed events). */
type PacketWriter = { packet(packet: { type: number; data: unknown[] }): void };

/** How long a session restored for a socket waits for the socket to be authenticated (a refused one never resumes). */
const WITHHELD_MS = 30_000;

/**
 * Makes Socket.IO recover a session with no rooms and no missed events (it would join and send
 * them before authenticating the socket), keeping what the adapter restored for `resume`.
 */
function withholdRecovery(io: Server, log: Logger) {
  const adapter = io.of('/').adapter;
  const restore = adapter.restoreSession.bind(adapter);
  const persist = adapter.persistSession.bind(adapter);
  const withheld = new Map<string, Session>();
  adapter.restoreSession = async (pid, offset) => {
    const session = await restore(pid, offset);
    if (!session) return session;
    // The client noticed a drop its old socket has not: Socket.IO would give the new socket the id
    // of one still connected (socketio/socket.io#4880), whose end later takes the new one's rooms.
    // A new session instead (the client refetches); the old socket times out on its own.
    if (io.of('/').sockets.has(session.sid)) return null as unknown as Session;
    withheld.set(pid, session);
    setTimeout(() => {
      if (withheld.get(pid) === session) withheld.delete(pid);
    }, WITHHELD_MS).unref();
    return { ...session, rooms: [], missedPackets: [] };
  };
  return {
    /** The session restored before the socket was authenticated; handed out once. */
    withheld(pid: string): Session | undefined {
      const session = withheld.get(pid);
      withheld.delete(pid);
      return session;
    },
    /**
     * Every event missed since `offset`, read again now, and `join` called so that no event falls
     * between the read and the join. The adapter may have consumed the session on the first read
     * (the Redis adapter deletes it), so it is persisted again first; should the second read fail,
     * what the first read found is sent. Undefined when this hub's adapter no longer has it all
     * (events expired meanwhile): nothing can be replayed without a gap.
     */
    async missedSince(first: Session, offset: string, join: () => void): Promise<unknown[][] | undefined> {
      // This hub's adapter reads as it is called, so joining at once, in the same turn, leaves no
      // gap. The Redis adapter reads over the network and delivers an event sent meanwhile late,
      // from its stream: joining after its read keeps that event in the replay only, in order.
      const readsAtOnce = adapter instanceof CompactRecoveryAdapter;
      // Not for this hub's own adapter, which keeps the session and what it knows of its client (a
      // session persisted now would take the new connection's).
      if (!readsAtOnce) persist({ sid: first.sid, pid: first.pid, rooms: first.rooms, data: first.data });
      const reading = restore(first.pid, offset).then(
        (session) => ({ session }),
        (error: unknown) => ({ error }),
      );
      if (readsAtOnce) join();
      const read = await reading;
      if (!readsAtOnce) join();
      if ('error' in read) {
        log.warn({ err: read.error, pid: first.pid }, 'could not read again the events a recovering socket missed');
        return first.missedPackets;
      }
      if (read.session) return read.session.missedPackets;
      if (readsAtOnce) return undefined;
      return first.missedPackets;
    },
  };
}

const READY_EVENT = 'socket:ready';
const REFRESH_EVENT = 'auth:refresh';
const EXPIRED_EVENT = 'auth:expired';
/** setTimeout's largest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `next` is a later expiry than `current` (none: never expires). */
function later(next: Date | undefined, current: Date | undefined): boolean {
  if (current === undefined) return next === undefined;
  return next === undefined || next.getTime() >= current.getTime();
}

/** The same holder: every field equal but the expiry (a refresh may not switch user, session or role). */
function samePrincipal(current: SocketPrincipal, next: SocketPrincipal): boolean {
  const fields = new Set([...Object.keys(current), ...Object.keys(next)]);
  fields.delete('expiresAt');
  return [...fields].every((field) => (current as unknown as Record<string, unknown>)[field] === (next as unknown as Record<string, unknown>)[field]);
}

/**
 * One timer per socket whose principal expires. At expiry the socket gets `auth:expired`, then its
 * engine connection is closed without discarding what is queued (the event goes out first): Socket.IO
 * calls that a `forced close`, keeps the session for recovery, and the client reconnects by itself.
 */
function expiryTimers(clock: Clock, log: Logger) {
  // By socket, not by id: a recovered socket reuses its predecessor's id.
  const timers = new Map<Socket, NodeJS.Timeout>();
  const disarm = (socket: Socket): void => {
    clearTimeout(timers.get(socket));
    timers.delete(socket);
  };
  const expire = (socket: Socket, expiresAt: Date): void => {
    timers.delete(socket);
    if (!socket.connected) return;
    const event: AuthExpired = { code: 'token_expired', message: 'The access token has expired; reconnect with a fresh one', expiredAt: expiresAt.toISOString() };
    log.info({ socketId: socket.id }, 'socket token expired; closing its connection');
    // Straight to this socket's connection, not through the adapter: the Redis adapter would send
    // it after the close (dropped), and keep it for the socket's recovery (sent to the new token).
    (socket as unknown as PacketWriter).packet({ type: EVENT_PACKET, data: [EXPIRED_EVENT, event] });
    socket.conn.close();
  };
  const arm = (socket: Socket, expiresAt: Date | undefined): void => {
    disarm(socket);
    if (expiresAt === undefined || !socket.connected) return;
    const remaining = Math.max(0, expiresAt.getTime() - clock.now().getTime());
    const timer = remaining > MAX_TIMER_MS ? setTimeout(() => arm(socket, expiresAt), MAX_TIMER_MS) : setTimeout(() => expire(socket, expiresAt), remaining);
    timer.unref();
    timers.set(socket, timer);
  };
  return { arm, disarm };
}

/** Socket.IO sends `err.message` and `err.data` to the client's connect_error. */
function connectError(error: unknown): Error {
  const problem = toPublicError(error);
  return Object.assign(new Error(problem.message), { data: { code: problem.code } });
}
