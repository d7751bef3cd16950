/**
 * MongoDB wire protocol framing (https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/).
 * Only what drivers speak today: OP_QUERY for the legacy handshake (answered with OP_REPLY)
 * and OP_MSG for everything else. Compression is never advertised, so OP_COMPRESSED never arrives.
 */
import { deserialize, serialize } from 'bson';
import type { Document } from 'bson';
import { arrayElementBytes } from '../bson/elements.js';
import { numbersOnlySize, writeNumbersOnly } from '../bson/numbers-only.js';

export const OpCode = { Reply: 1, Query: 2004, Compressed: 2012, Msg: 2013 } as const;

/** OP_MSG flag bits. */
export const MsgFlags = { ChecksumPresent: 1 << 0, MoreToCome: 1 << 1, ExhaustAllowed: 1 << 16 } as const;

const HEADER_SIZE = 16;

/**
 * int64 stays a `Long` so it round-trips as int64; int32/double become JS numbers
 * (the bson serializer writes integral numbers in int32 range back as int32, like the Node driver).
 */
export const DESERIALIZE_OPTIONS = { promoteLongs: false, promoteValues: true, promoteBuffers: false } as const;
const SERIALIZE_OPTIONS = { ignoreUndefined: true } as const;

export interface IncomingCommand {
  requestId: number;
  opCode: typeof OpCode.Query | typeof OpCode.Msg;
  /** The command with kind-1 document sequences folded in as arrays. */
  command: Document;
  /** OP_MSG moreToCome: the client expects no reply. */
  moreToCome: boolean;
  /** For OP_QUERY: "db.$cmd"; for OP_MSG: taken from `$db`. */
  database: string;
  /**
   * The BSON of each element of the command's `documents` (insert), as received — views into
   * the message, so only valid while the command is processed. An entry is undefined where
   * the element is not a document.
   */
  documentBytes?: Array<Uint8Array | undefined>;
}

export function messageLength(buffer: Buffer, offset: number): number {
  return buffer.readInt32LE(offset);
}

function readCString(buffer: Buffer, offset: number): [string, number] {
  const end = buffer.indexOf(0, offset);
  if (end < 0) throw new Error('unterminated cstring in wire message');
  return [buffer.toString('utf8', offset, end), end + 1];
}

function readDocument(buffer: Buffer, offset: number): [Document, number] {
  const size = buffer.readInt32LE(offset);
  const document = deserialize(buffer.subarray(offset, offset + size), DESERIALIZE_OPTIONS);
  return [document, offset + size];
}

function parseOpQuery(message: Buffer, requestId: number): IncomingCommand {
  let offset = HEADER_SIZE + 4; // flags
  const [collectionName, afterName] = readCString(message, offset);
  offset = afterName + 8; // numberToSkip, numberToReturn
  const [query] = readDocument(message, offset);
  // Legacy drivers wrap the command as {$query: {...}, $readPreference: ...}.
  const command = (query.$query as Document | undefined) ?? query;
  const database = collectionName.split('.')[0] ?? 'admin';
  return { requestId, opCode: OpCode.Query, command, moreToCome: false, database };
}

function parseOpMsg(message: Buffer, requestId: number): IncomingCommand {
  const flags = message.readUInt32LE(HEADER_SIZE);
  const end = message.length - (flags & MsgFlags.ChecksumPresent ? 4 : 0);
  let offset = HEADER_SIZE + 4;
  let body: Document | undefined;
  let bodyOffset = 0;
  let documentBytes: Array<Uint8Array | undefined> | undefined;
  const sequences: Array<[string, Document[]]> = [];
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    if (kind === 0) {
      bodyOffset = offset;
      [body, offset] = readDocument(message, offset);
    } else if (kind === 1) {
      const sectionEnd = offset + message.readInt32LE(offset);
      const [identifier, afterIdentifier] = readCString(message, offset + 4);
      const documents: Document[] = [];
      const bytes: Uint8Array[] = [];
      let cursor = afterIdentifier;
      while (cursor < sectionEnd) {
        const [document, next] = readDocument(message, cursor);
        documents.push(document);
        bytes.push(message.subarray(cursor, next));
        cursor = next;
      }
      if (identifier === 'documents') documentBytes = bytes;
      sequences.push([identifier, documents]);
      offset = sectionEnd;
    } else {
      throw new Error(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (body === undefined) throw new Error('OP_MSG without a body section');
  for (const [identifier, documents] of sequences) body[identifier] = documents;
  if (documentBytes === undefined && Array.isArray(body.documents)) documentBytes = arrayElementBytes(message, bodyOffset, 'documents');
  const database = typeof body.$db === 'string' ? body.$db : 'admin';
  const command: IncomingCommand = { requestId, opCode: OpCode.Msg, command: body, moreToCome: (flags & MsgFlags.MoreToCome) !== 0, database };
  if (documentBytes !== undefined) command.documentBytes = documentBytes;
  return command;
}

/** Parses one complete message (header included). Returns undefined for op codes we do not serve. */
export function parseMessage(message: Buffer): IncomingCommand | { unsupportedOpCode: number; requestId: number } {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  if (opCode === OpCode.Msg) return parseOpMsg(message, requestId);
  if (opCode === OpCode.Query) return parseOpQuery(message, requestId);
  return { unsupportedOpCode: opCode, requestId };
}

/** Header, op-specific prefix and body; the body is serialized once and copied once (written in place when it is a plain `{n, ok}`). */
function frame(reply: Document, prefixLength: number, requestId: number, responseTo: number, opCode: number): Buffer {
  const simpleSize = numbersOnlySize(reply);
  const body = simpleSize === undefined ? serialize(reply, SERIALIZE_OPTIONS) : undefined;
  const length = HEADER_SIZE + prefixLength + (body?.length ?? (simpleSize as number));
  const buffer = Buffer.allocUnsafe(length);
  buffer.writeInt32LE(length, 0);
  buffer.writeInt32LE(requestId, 4);
  buffer.writeInt32LE(responseTo, 8);
  buffer.writeInt32LE(opCode, 12);
  buffer.fill(0, HEADER_SIZE, HEADER_SIZE + prefixLength);
  if (body === undefined) writeNumbersOnly(reply, simpleSize as number, buffer, HEADER_SIZE + prefixLength);
  else buffer.set(body, HEADER_SIZE + prefixLength);
  return buffer;
}

export function encodeOpMsg(reply: Document, requestId: number, responseTo: number): Buffer {
  // flagBits 0, then one kind-0 section (zero bytes of the prefix).
  return frame(reply, 5, requestId, responseTo, OpCode.Msg);
}

export function encodeOpReply(reply: Document, requestId: number, responseTo: number): Buffer {
  const buffer = frame(reply, 20, requestId, responseTo, OpCode.Reply);
  // responseFlags 0, cursorID 0, startingFrom 0, numberReturned 1.
  buffer.writeInt32LE(1, HEADER_SIZE + 16);
  return buffer;
}
