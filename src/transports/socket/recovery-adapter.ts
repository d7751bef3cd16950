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
 * The JSON kept for an event is also what goes on the wire: the adapter hands it to Socket.IO's
 * encoding of that broadcast, which would otherwise walk the arguments for binary and stringify
 * them a second time (with thousands of device events a second, one of the hub's larger costs).
 *
 * With REDIS_URL the Redis streams adapter is used instead (it keeps the buffer in Redis).
 */
import { Adapter, type BroadcastOptions, type PrivateSessionId, type Room, type Session } from 'socket.io-adapter';

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

interface PersistedSession extends SessionToPersist {
  disconnectedAt: number;
}

interface BroadcastPacket {
  type: number;
  id?: number;
  data: unknown[];
}

interface NamespaceWithRecovery {
  server: { opts: { connectionStateRecovery: { maxDisconnectionDuration: number } } };
}

/** Socket.IO's packet encoder (socket.io-parser), as every adapter holds it. */
interface PacketEncoder {
  encode(packet: BroadcastPacket & { nsp?: string }): unknown[];
}

export class CompactRecoveryAdapter extends Adapter {
  private readonly windowMs: number;
  private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
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

  override persistSession(session: SessionToPersist): void {
    this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() });
    this.prune(Date.now());
  }

  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    const now = Date.now();
    this.prune(now, true);
    const session = this.sessions.get(pid);
    if (!session || session.disconnectedAt + this.windowMs < now) return NO_SESSION;
    const start = this.indexAfter(offset);
    // Events after the offset are gone (or the offset is not one of ours): no recovery.
    if (start === -1) return NO_SESSION;
    // Kept until it expires, as Socket.IO does: a reconnection refused by a middleware may try again.
    const { disconnectedAt: _disconnectedAt, ...persisted } = session;
    const joined = new Set<Room>(session.rooms);
    const missedPackets = this.buffered.slice(start).filter((event) => reaches(event, joined)).map(argumentsOf);
    return Promise.resolve({ ...persisted, missedPackets });
  }

  override broadcast(packet: BroadcastPacket, opts: BroadcastOptions): void {
    if (packet.type === EVENT && packet.id === undefined && opts.flags?.volatile === undefined) {
      const sequence = this.sequence++;
      const id = flat(this.offsetPrefix + sequence.toString(36));
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

  /** Whether a socket that was in `room` dropped within the window, and gets what is sent there if it comes back. */
  recoverableIn(room: Room): boolean {
    const threshold = Date.now() - this.windowMs;
    for (const session of this.sessions.values()) if (session.disconnectedAt >= threshold && session.rooms.includes(room)) return true;
    return false;
  }

  /** How many events are buffered (for tests and metrics). */
  get bufferedEvents(): number {
    return this.buffered.length;
  }

  /**
   * Where the events after `offset` start in the buffer, or -1 when some of them are gone. The
   * offset's own event may have expired already (a quiet room): what matters is that everything
   * after it is still here, as with Socket.IO's adapter, which keeps events up to a minute longer.
   */
  private indexAfter(offset: string): number {
    if (typeof offset !== 'string' || !offset.startsWith(this.offsetPrefix)) return -1;
    const sequence = Number.parseInt(offset.slice(this.offsetPrefix.length), 36);
    if (!Number.isSafeInteger(sequence) || sequence >= this.sequence) return -1;
    const oldest = this.buffered[0]?.sequence ?? this.sequence;
    if (sequence < oldest - 1) return -1;
    return sequence - oldest + 1;
  }

  private prune(now: number, always = false): void {
    if (!always && now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    const threshold = now - this.windowMs;
    let expired = 0;
    while (expired < this.buffered.length && (this.buffered[expired] as BufferedEvent).emittedAt < threshold) expired++;
    if (expired > 0) this.buffered.splice(0, expired);
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < threshold) this.sessions.delete(pid);
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
