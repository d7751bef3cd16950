/**
 * Connection-state recovery for one hub process, holding what it buffers compactly.
 *
 * Socket.IO's own in-memory recovery (socket.io-adapter's SessionAwareAdapter) keeps every
 * broadcast event as the live objects that were emitted, each with its own Set of rooms, for the
 * recovery window plus up to a minute (it prunes once a minute). The hub broadcasts a
 * `device:status` on every heartbeat, so with thousands of dispensers that buffer was the largest
 * per-device cost in the hub's heap (≈ 5 KB per device after a fleet connects). This adapter keeps
 * the same events as one JSON string each (what the wire would carry anyway: the Socket.IO parser
 * encodes with JSON.stringify; events carrying binary are kept as they are), with the rooms joined
 * into one string, and drops expired events as new ones arrive. Recovery itself behaves as Socket.IO
 * documents it: a client back within the window gets its rooms, its data and every event it
 * missed, in order; otherwise it starts a new session.
 *
 * Unlike Socket.IO's adapter, a quiet client recovers too. A client presents the offset of the last
 * event it received, which for an app that receives little is older than the window: Socket.IO's
 * adapter then finds it gone and refuses. Here the connection's heartbeats say which events its
 * client has certainly processed (see `Lineage`), and only the events after those must still be
 * kept.
 *
 * The JSON kept for an event is also what goes on the wire: the adapter hands it to Socket.IO's
 * encoding of that broadcast, which would otherwise walk the arguments for binary and stringify
 * them a second time (with thousands of device events a second, one of the hub's larger costs).
 *
 * With REDIS_URL the Redis streams adapter is used instead (it keeps the buffer in Redis).
 */
import { Adapter, type BroadcastOptions, type PrivateSessionId, type Room, type Session, type SocketId } from 'socket.io-adapter';

/** What Socket.IO hands over when a socket disconnects (socket.io-adapter does not export the type). */
type SessionToPersist = Omit<Session, 'missedPackets'>;

/** socket.io-parser's EVENT packet type; only events without an ack callback can be replayed. */
const EVENT = 2;
/** Pruning walks the buffer's head; doing it at most this often keeps broadcasts O(1). */
const PRUNE_EVERY_MS = 1000;

/**
 * "Nothing to recover": Socket.IO checks the result for truthiness (its own adapter answers null),
 * though the base class's type leaves null out.
 */
const NO_SESSION = Promise.resolve(null as unknown as Session);

/** Joins a broadcast's rooms into one string (room names never contain it: they are `kind:id`). */
const ROOM_SEPARATOR = '\n';

interface BufferedEvent {
  id: string;
  /** Position in this process's sequence of buffered events (the offset `id` encodes it). */
  sequence: number;
  emittedAt: number;
  /** The rooms it went to and those excepted, each joined into one string ('' = none). */
  rooms: string;
  except: string;
  /** The event's arguments as JSON, or as emitted when they hold binary. */
  json?: string;
  data?: unknown[];
}

/**
 * What recovery knows of one client session, carried from connection to connection when it recovers.
 *
 * Events are written to a connection in sequence order, and so is Engine.IO's ping: when the pong
 * comes back, the client has received every event queued before the ping, and handles them before
 * anything else it does (engine.io-client answers the ping at once, socket.io-client handles the
 * packets before it in the same turn, in order). So an event below `confirmed` that was for this
 * socket was received, and the offset the client reconnects with is past it.
 */
interface Lineage {
  /** The sequence at which the session's first socket connected: nothing before it was its to receive. */
  firstSequence: number;
  /** Events below it that were for this socket have been processed by its client. */
  confirmed: number;
  /** Whether the client holds an offset: without one, socket.io-client does not ask for recovery. */
  hasOffset: boolean;
}

interface PersistedSession extends SessionToPersist, Lineage {
  disconnectedAt: number;
  /** A socket has taken it over (it is kept for a retry, but its client is no longer away). */
  resumed?: boolean;
}

/** A connected socket: its session's lineage, and the sequence at its last ping still unanswered. */
interface Connected extends Lineage {
  /**
   * Stops following its heartbeats; set once it is set up: it has been sent an event of its own
   * (the hub's `socket:ready`, after replaying what it missed). Heartbeats count from then on: a
   * ping sent before the replay is not behind it.
   */
  unfollow?: () => void;
  pingedAt?: number;
}

/** Engine.IO's connection under a socket: its outgoing packets and incoming ones. */
interface EngineConnection {
  on(event: 'packetCreate' | 'packet', listener: (packet: { type: string }) => void): unknown;
  off(event: 'packetCreate' | 'packet', listener: (packet: { type: string }) => void): unknown;
}

interface BroadcastPacket {
  type: number;
  id?: number;
  data: unknown[];
}

interface NamespaceWithRecovery {
  server: { opts: { connectionStateRecovery: { maxDisconnectionDuration: number } } };
  sockets: Map<SocketId, { conn: EngineConnection }>;
}

/** Socket.IO's packet encoder (socket.io-parser), as every adapter holds it. */
interface PacketEncoder {
  encode(packet: BroadcastPacket & { nsp?: string }): unknown[];
}

export class CompactRecoveryAdapter extends Adapter {
  private readonly windowMs: number;
  private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
  private readonly connected = new Map<SocketId, Connected>();
  /** Sessions restored for a socket not connected yet (its id is the session's), by socket id. */
  private readonly restoring = new Map<SocketId, { pid: PrivateSessionId; lineage: Lineage; at: number }>();
  /** Oldest first. */
  private readonly buffered: BufferedEvent[] = [];
  /** Offsets only need to be unique and increasing within this process (sessions do not outlive it). */
  private readonly offsetPrefix = `${Date.now().toString(36)}-`;
  private sequence = 0;
  private prunedAt = 0;
  /** The broadcast being sent and its arguments' JSON, while `super.broadcast` encodes it. */
  private encoding: { packet: BroadcastPacket; json: string } | undefined;

  constructor(nsp: ConstructorParameters<typeof Adapter>[0]) {
    super(nsp);
    this.windowMs = (nsp as NamespaceWithRecovery).server.opts.connectionStateRecovery.maxDisconnectionDuration;
    const self = this as unknown as { encoder: PacketEncoder };
    const encoder = self.encoder;
    self.encoder = { encode: (packet) => this.encodeOnce(packet) ?? encoder.encode(packet) };
  }

  /**
   * The broadcast being sent, encoded as socket.io-parser encodes an event without binary
   * (`2`, the namespace unless it is `/`, then the arguments' JSON) from the JSON already made.
   */
  private encodeOnce(packet: BroadcastPacket & { nsp?: string }): string[] | undefined {
    if (this.encoding?.packet !== packet || packet.type !== EVENT || packet.id !== undefined) return undefined;
    const namespace = packet.nsp && packet.nsp !== '/' ? `${packet.nsp},` : '';
    return [`${EVENT}${namespace}${this.encoding.json}`];
  }

  /**
   * A socket's first join (its own room, as it connects) starts its lineage, or carries on the one
   * of the session it recovered, and follows its connection's heartbeats.
   */
  override addAll(id: SocketId, rooms: Set<Room>): Promise<void> | void {
    if (!this.connected.has(id)) this.follow(id);
    return super.addAll(id, rooms);
  }

  override delAll(id: SocketId): void {
    this.connected.get(id)?.unfollow?.();
    this.connected.delete(id);
    super.delAll(id);
  }

  /** Called as a socket disconnects, before it leaves its rooms. */
  override persistSession(session: SessionToPersist): void {
    const now = Date.now();
    const { firstSequence, confirmed, hasOffset } = this.connected.get(session.sid) ?? this.freshLineage();
    // Not `...lineage`: a connected socket's entry holds more than its lineage.
    this.sessions.set(session.pid, { ...session, disconnectedAt: now, firstSequence, confirmed, hasOffset });
    this.prune(now);
  }

  /**
   * The events the client missed: those after its offset that reached its rooms since its session
   * began. Its offset may be old (nothing came for it in a while) and events after it may have
   * expired: that loses nothing when they are below `confirmed` (see `Lineage`). Otherwise the
   * session is not recovered.
   */
  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    const now = Date.now();
    this.prune(now, true);
    const session = this.sessions.get(pid);
    if (!session || session.disconnectedAt + this.windowMs < now) return NO_SESSION;
    const after = this.sequenceOf(offset);
    // Not an offset this process gave: no recovery.
    if (after === undefined) return NO_SESSION;
    const from = Math.max(after + 1, session.firstSequence);
    if (!this.keptSince(Math.max(from, session.confirmed))) return NO_SESSION;
    // Kept until it expires, as Socket.IO does: a reconnection refused by a middleware may try again.
    const { disconnectedAt: _disconnectedAt, firstSequence, confirmed, hasOffset, ...persisted } = session;
    // The socket that takes the session over carries on its lineage: what is replayed to it is
    // confirmed only by a heartbeat of its own connection.
    if (!this.connected.has(session.sid)) this.restoring.set(session.sid, { pid, lineage: { firstSequence, confirmed, hasOffset }, at: now });
    const joined = new Set<Room>(session.rooms);
    const missedPackets = this.buffered
      .slice(Math.max(0, from - this.oldestKept()))
      .filter((event) => reaches(event, joined))
      .map(argumentsOf);
    return Promise.resolve({ ...persisted, missedPackets });
  }

  override broadcast(packet: BroadcastPacket, opts: BroadcastOptions): void {
    if (packet.type === EVENT && packet.id === undefined && opts.flags?.volatile === undefined) {
      const sequence = this.sequence++;
      const id = flat(this.offsetPrefix + sequence.toString(36));
      this.noteOffsetSent(opts.rooms);
      // The client learns its offset from the event's last argument (Socket.IO's format).
      packet.data.push(id);
      const now = Date.now();
      const event = compact(id, sequence, now, packet.data, opts);
      this.buffered.push(event);
      this.prune(now);
      if (event.json !== undefined) {
        this.encoding = { packet, json: event.json };
        try {
          super.broadcast(packet, opts);
        } finally {
          this.encoding = undefined;
        }
        return;
      }
    }
    super.broadcast(packet, opts);
  }

  /**
   * Whether a socket that was in `room` dropped within the window and gets what is sent there if it
   * comes back now: its client holds an offset, and nothing it may have missed has expired.
   */
  recoverableIn(room: Room): boolean {
    this.prune(Date.now(), true);
    for (const session of this.sessions.values()) {
      if (session.resumed === true || !session.hasOffset || !session.rooms.includes(room)) continue;
      // Its client's offset is not known here: from the start of its session on, whatever it is.
      if (this.keptSince(Math.max(session.firstSequence, session.confirmed))) return true;
    }
    return false;
  }

  /** Whether every event from `sequence` on is still buffered. */
  private keptSince(sequence: number): boolean {
    return this.oldestKept() <= sequence;
  }

  /** The sequence of the oldest event buffered (the buffer holds every event since, in order). */
  private oldestKept(): number {
    return this.buffered[0]?.sequence ?? this.sequence;
  }

  /** The lineage of a session that begins now. */
  private freshLineage(): Lineage {
    return { firstSequence: this.sequence, confirmed: this.sequence, hasOffset: false };
  }

  /** A socket that has just connected (see `addAll`): its lineage, new or that of the session it takes over. */
  private follow(id: SocketId): void {
    const restored = this.restoring.get(id);
    this.restoring.delete(id);
    const session = restored ? this.sessions.get(restored.pid) : undefined;
    if (session) session.resumed = true;
    this.connected.set(id, { ...(restored?.lineage ?? this.freshLineage()) });
  }

  /** A ping is queued behind every event sent so far: its pong says they were all received. */
  private followHeartbeats(id: SocketId, connected: Connected): void {
    const conn = (this.nsp as NamespaceWithRecovery).sockets.get(id)?.conn;
    if (conn === undefined) return;
    const onSent = (packet: { type: string }): void => {
      if (packet.type === 'ping') connected.pingedAt ??= this.sequence;
    };
    const onReceived = (packet: { type: string }): void => {
      if (packet.type !== 'pong' || connected.pingedAt === undefined) return;
      connected.confirmed = Math.max(connected.confirmed, connected.pingedAt);
      connected.pingedAt = undefined;
    };
    conn.on('packetCreate', onSent);
    conn.on('packet', onReceived);
    connected.unfollow = () => {
      conn.off('packetCreate', onSent);
      conn.off('packet', onReceived);
    };
  }

  /** How many events are buffered (for tests and metrics). */
  get bufferedEvents(): number {
    return this.buffered.length;
  }

  /**
   * A broadcast to a socket's own room gives its client an offset, and says it is set up (the hub
   * sends every socket one, `socket:ready`). Events to other rooms give an offset too, but are not
   * followed: a socket that drops before its first own event is judged not to recover.
   */
  private noteOffsetSent(rooms: ReadonlySet<Room>): void {
    for (const room of rooms) {
      const connected = this.connected.get(room);
      if (connected === undefined) continue;
      connected.hasOffset = true;
      if (connected.unfollow === undefined) this.followHeartbeats(room, connected);
    }
  }

  /** The sequence number an offset of this process stands for; undefined for any other string. */
  private sequenceOf(offset: string): number | undefined {
    if (typeof offset !== 'string' || !offset.startsWith(this.offsetPrefix)) return undefined;
    const sequence = Number.parseInt(offset.slice(this.offsetPrefix.length), 36);
    return Number.isSafeInteger(sequence) && sequence >= 0 && sequence < this.sequence ? sequence : undefined;
  }

  private prune(now: number, always = false): void {
    if (!always && now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    const threshold = now - this.windowMs;
    let expired = 0;
    while (expired < this.buffered.length && (this.buffered[expired] as BufferedEvent).emittedAt < threshold) expired++;
    if (expired > 0) this.buffered.splice(0, expired);
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < threshold) this.sessions.delete(pid);
    for (const [id, { at }] of this.restoring) if (at < threshold) this.restoring.delete(id);
  }
}

function compact(id: string, sequence: number, emittedAt: number, data: unknown[], opts: BroadcastOptions): BufferedEvent {
  const event: BufferedEvent = { id, sequence, emittedAt, rooms: [...opts.rooms].join(ROOM_SEPARATOR), except: [...(opts.except ?? [])].join(ROOM_SEPARATOR) };
  if (holdsBinary(data)) event.data = data;
  else event.json = flat(JSON.stringify(data));
  return event;
}

/**
 * V8 builds long strings (JSON.stringify's output, concatenations) as trees of pieces; reading
 * one as a number makes V8 flatten it in place into one contiguous string, so what the buffer
 * keeps is the text and not the tree (the `flatstr` trick, as pino uses it).
 */
function flat(text: string): string {
  Number(text);
  return text;
}

function argumentsOf(event: BufferedEvent): unknown[] {
  return event.json === undefined ? (event.data as unknown[]) : (JSON.parse(event.json) as unknown[]);
}

/** The same rule as Socket.IO's: sent to one of the session's rooms (or to all) and not excepted. */
function reaches(event: BufferedEvent, joined: ReadonlySet<Room>): boolean {
  const inAny = (rooms: string): boolean => rooms.split(ROOM_SEPARATOR).some((room) => joined.has(room));
  return (event.rooms === '' || inAny(event.rooms)) && !(event.except !== '' && inAny(event.except));
}

/**
 * Whether JSON would lose something: Socket.IO sends binary as attachments, not as JSON. The same
 * rule as socket.io-parser's hasBinary (which decides how Socket.IO itself encodes the event): an
 * object with toJSON is judged by what toJSON answers.
 */
function holdsBinary(value: unknown, depth = 0, viaToJSON = false): boolean {
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  if (Array.isArray(value)) return value.some((item) => holdsBinary(item, depth + 1));
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Blob) return true;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function' && !viaToJSON) return holdsBinary(toJSON.call(value), depth + 1, true);
  return Object.values(value).some((item) => holdsBinary(item, depth + 1));
}
