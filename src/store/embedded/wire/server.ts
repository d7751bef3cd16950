/**
 * The TCP side: frames messages, answers OP_QUERY handshakes with OP_REPLY and OP_MSG with
 * OP_MSG, and processes each connection's messages in order (drivers never pipeline on one
 * connection; concurrency comes from the pool, which is what group commit batches).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Document } from 'bson';
import type { Engine } from '../engine/engine.js';
import { dispatchCommand } from '../commands/registry.js';
import { MAX_MESSAGE_SIZE_BYTES } from '../commands/handshake.js';
import type { ConnectionState } from '../commands/context.js';
import { OpCode, encodeOpMsg, encodeOpReply, messageLength, parseMessage } from './codec.js';

let responseCounter = 0;
function nextResponseId(): number {
  responseCounter = (responseCounter + 1) & 0x7fffffff;
  return responseCounter;
}

class Connection {
  /** Received bytes not yet framed; joined once per message, not once per chunk (large inserts arrive in many chunks). */
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly state: ConnectionState;

  constructor(
    private readonly socket: Socket,
    private readonly engine: Engine,
  ) {
    this.state = { id: engine.nextConnectionId(), remoteAddress: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}` };
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
  }

  private receive(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    while (this.bufferedBytes >= 4) {
      const length = messageLength(this.joinedPrefix(4), 0);
      // Refuse oversized or nonsensical frames before buffering them.
      if (length < 16 || length > MAX_MESSAGE_SIZE_BYTES) {
        this.socket.destroy();
        return;
      }
      if (this.bufferedBytes < length) return;
      const buffered = this.joinedPrefix(this.bufferedBytes);
      const message = buffered.subarray(0, length);
      const rest = buffered.subarray(length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bufferedBytes = rest.length;
      this.queue = this.queue.then(() => this.handleSafely(message));
    }
  }

  /** The first chunk, joined with the following ones until it holds at least `bytes`. */
  private joinedPrefix(bytes: number): Buffer {
    let first = this.chunks[0] as Buffer;
    if (first.length < bytes) {
      first = Buffer.concat(this.chunks, this.bufferedBytes);
      this.chunks = [first];
    }
    return first;
  }

  /** Never rejects: a rejected chain would be an unhandled rejection and stop the process. */
  private async handleSafely(message: Buffer): Promise<void> {
    try {
      await this.handle(message);
    } catch (error) {
      this.engine.settings.logger.error({ err: String(error), connection: this.state.id }, 'embedded store dropped a connection');
      this.socket.destroy();
    }
  }

  private async handle(message: Buffer): Promise<void> {
    let parsed: ReturnType<typeof parseMessage>;
    try {
      parsed = parseMessage(message);
    } catch {
      this.socket.destroy();
      return;
    }
    if ('unsupportedOpCode' in parsed) {
      this.socket.destroy();
      return;
    }
    const reply: Document = await dispatchCommand({
      engine: this.engine,
      db: parsed.database,
      command: parsed.command,
      connection: this.state,
      ...(parsed.documentBytes === undefined ? {} : { documentBytes: parsed.documentBytes }),
    });
    if (parsed.moreToCome || this.socket.destroyed) return;
    const encoded = parsed.opCode === OpCode.Query
      ? encodeOpReply(reply, nextResponseId(), parsed.requestId)
      : encodeOpMsg(reply, nextResponseId(), parsed.requestId);
    this.socket.write(encoded);
  }
}

export interface WireServer {
  server: Server;
  sockets: Set<Socket>;
}

export function createWireServer(engine: Engine): WireServer {
  const sockets = new Set<Socket>();
  const server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new Connection(socket, engine);
  });
  return { server, sockets };
}
