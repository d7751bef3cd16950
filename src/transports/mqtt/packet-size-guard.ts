/**
 * Aedes has no maximum packet size: a client that declares a 256 MB PUBLISH
 * makes the parser buffer it (see NOTES.md). This guard sits on the raw byte
 * stream in front of the parser, reads only each packet's fixed header
 * (type byte + "Remaining Length" varint, MQTT 3.1.1 §2.2.3) and fails the
 * stream as soon as a declared length exceeds the limit — before the body is
 * received, let alone buffered. Chunks pass through untouched.
 */
import { Duplex, Transform, type TransformCallback } from 'node:stream';

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

export class PacketSizeGuard extends Transform {
  private phase: Phase = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;

  constructor(private readonly maxPacketBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const problem = this.inspect(chunk);
    if (problem) callback(problem);
    else callback(null, chunk);
  }

  private inspect(chunk: Buffer): Error | undefined {
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
 * Wraps a connection so that what the broker reads has passed the guard, and
 * what it writes goes straight to the connection. Destroying either side
 * destroys the pair.
 */
export function guardConnection(
  connection: Duplex,
  maxPacketBytes: number,
  onViolation: (error: Error) => void,
): Duplex {
  const guard = new PacketSizeGuard(maxPacketBytes);
  const guarded = Duplex.from({ readable: connection.pipe(guard), writable: connection });
  guard.on('error', (error) => {
    // The guard also errors when the pair is torn down normally (AbortError); only its own findings are violations.
    if (error instanceof PacketTooLargeError || error instanceof MalformedLengthError) onViolation(error);
    connection.destroy();
    guarded.destroy();
  });
  guarded.on('close', () => connection.destroy());
  return guarded;
}
