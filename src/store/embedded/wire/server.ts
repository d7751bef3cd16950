/**
 * The TCP side: frames messages, answers OP_QUERY handshakes with OP_REPLY and OP_MSG with
 * OP_MSG, and processes each connection's messages in order (drivers never pipeline on one
 * connection; concurrency comes from the pool, which is what group commit batches).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { Document } from 'bson';
import type { Engine } from '../engine/engine.js';
import { commandNameOf, dispatchCommand } from '../commands/registry.js';
import { MAX_MESSAGE_SIZE_BYTES } from '../commands/handshake.js';
import type { ConnectionState } from '../commands/context.js';
import { MAX_BSON_OBJECT_SIZE } from '../engine/document-size.js';
import { ErrorCodes, failure } from '../errors.js';
import { OpCode, encodeOpMsg, encodeOpReply, messageLength, parseMessage } from './codec.js';

/**
 * The largest reply a command can legitimately make: one document of up to 16 MiB + 16 KB (a
 * cursor batch past its first document stays under 16 MiB − 16 KB) and the reply's envelope.
 * Anything between this and the serializer's 17 MiB buffer may have been cut short.
 */
const MAX_REPLY_BYTES = MAX_BSON_OBJECT_SIZE + 64 * 1024;

let responseCounter = 0;
/** Not reported to `onCommand`: every connection opens with one, and monitors repeat it (drivers do not report them either). */
const HANDSHAKE = new Set(['hello', 'isMaster', 'ismaster']);

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

  private observe(command: Document, started: number, reply: Document): void {
    const observer = this.engine.settings.onCommand;
    if (observer === undefined) return;
    const name = commandNameOf(command);
    if (HANDSHAKE.has(name)) return;
    const target = command[name];
    // Guarded where it was given (index.ts): a failing observer costs the client nothing.
    observer(name, (performance.now() - started) / 1000, reply.ok === 1, typeof target === 'string' ? target : undefined);
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
    const started = performance.now();
    const reply: Document = await dispatchCommand({
      engine: this.engine,
      db: parsed.database,
      command: parsed.command,
      connection: this.state,
      ...(parsed.documentBytes === undefined ? {} : { documentBytes: parsed.documentBytes }),
    });
    this.observe(parsed.command, started, reply);
    if (parsed.moreToCome || this.socket.destroyed) return;
    const encode = (document: Document): Buffer =>
      parsed.opCode === OpCode.Query ? encodeOpReply(document, nextResponseId(), parsed.requestId) : encodeOpMsg(document, nextResponseId(), parsed.requestId);
    this.socket.write(encodeWithinLimit(reply, encode));
  }
}

/**
 * Commands cap what they answer (cursor batches at 16 MiB, distinct, documents at their size
 * limit), so a reply never comes near the bson serializer's 17 MiB buffer, past which it throws
 * or, inside one long string, silently cuts the string short. Should one get there anyway, the
 * client gets BSONObjectTooLarge rather than a damaged reply or a dropped connection.
 */
function encodeWithinLimit(reply: Document, encode: (document: Document) => Buffer): Buffer {
  try {
    const encoded = encode(reply);
    if (encoded.length <= MAX_REPLY_BYTES) return encoded;
  } catch {
    // Past the serializer's buffer: answered below like any reply over the limit.
  }
  return encode(failure(ErrorCodes.BSONObjectTooLarge, `The reply to this command would be larger than ${MAX_REPLY_BYTES} bytes`).toReply());
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
