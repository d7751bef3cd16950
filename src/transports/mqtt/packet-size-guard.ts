/**
 * Aedes has no maximum packet size: a client that declares a 256 MB PUBLISH
 * makes the parser buffer it (see NOTES.md). This guard sits on the raw byte
 * stream in front of the parser, reads only each packet's fixed header
 * (type byte + "Remaining Length" varint, MQTT 3.1.1 §2.2.3) and fails the
 * stream as soon as a declared length exceeds the limit — before the body is
 * received, let alone buffered. Chunks pass through untouched.
 */
import type { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(
    readonly declared: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of ${declared} bytes exceeds the ${limit}-byte limit`);
    this.name = 'PacketTooLargeError';
  }
}

export class MalformedLengthError extends Error {
  constructor() {
    super('Malformed MQTT Remaining Length (more than 4 bytes)');
    this.name = 'MalformedLengthError';
  }
}

type Phase = 'type' | 'length' | 'body';

/** Follows the packet boundaries of an MQTT byte stream, chunk by chunk. */
export class PacketSizeGuard {
  private phase: Phase = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** The first problem in `chunk`, if any; the guard's state then carries over to the next chunk. */
  inspect(chunk: Buffer): Error | undefined {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.phase === 'body') {
        const take = Math.min(this.bodyLeft, chunk.length - offset);
        offset += take;
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) this.phase = 'type';
        continue;
      }
      const byte = chunk[offset++] as number;
      if (this.phase === 'type') {
        this.phase = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return new MalformedLengthError();
        continue;
      }
      // Fixed header (1 type byte + length bytes) counts towards the packet size.
      const packetBytes = 1 + this.lengthBytes + this.length;
      if (packetBytes > this.maxPacketBytes) return new PacketTooLargeError(packetBytes, this.maxPacketBytes);
      this.bodyLeft = this.length;
      this.phase = this.length === 0 ? 'type' : 'body';
    }
    return undefined;
  }
}

/**
 * Puts the guard on the connection's reads. Aedes pulls what it parses with `conn.read()`
 * (aedes/lib/client.js `nextBatch`) and writes to `conn` directly, so the guard wraps that one
 * method of the connection itself: a chunk reaches the parser only after the guard has seen it,
 * and a violation destroys the connection before the parser gets the chunk. (The first version
 * piped the connection through a Transform joined with `Duplex.from`; the two extra streams per
 * connection cost a few KB per device and CPU on every read and write.)
 */
export function guardConnection<T extends Duplex>(connection: T, maxPacketBytes: number, onViolation: (error: Error) => void): T {
  const guard = new PacketSizeGuard(maxPacketBytes);
  const read = connection.read.bind(connection);
  connection.read = (size?: number): unknown => {
    const chunk: unknown = read(size);
    if (!Buffer.isBuffer(chunk)) return chunk;
    const problem = guard.inspect(chunk);
    if (problem === undefined) return chunk;
    onViolation(problem);
    connection.destroy();
    return null;
  };
  return connection;
}
