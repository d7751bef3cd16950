/**
 * Just enough of BSON's layout to find the bytes of one field without decoding it: used to
 * keep the encoding of inserted documents as received (see IncomingCommand.documentBytes).
 * Only called on documents the bson library has already decoded, so the layout is valid;
 * anything unexpected answers undefined and the caller falls back to serializing.
 */

/** Size of the value of an element of `type` starting at `at`, or undefined for an unknown type. */
function valueSize(buffer: Buffer, type: number, at: number): number | undefined {
  switch (type) {
    case 0x06: case 0x0a: case 0x7f: case 0xff: return 0; // undefined, null, maxKey, minKey
    case 0x08: return 1; // boolean
    case 0x10: return 4; // int32
    case 0x01: case 0x09: case 0x11: case 0x12: return 8; // double, date, timestamp, int64
    case 0x07: return 12; // ObjectId
    case 0x13: return 16; // Decimal128
    case 0x02: case 0x0d: case 0x0e: return 4 + buffer.readInt32LE(at); // string, code, symbol
    case 0x03: case 0x04: case 0x0f: return buffer.readInt32LE(at); // document, array, code with scope
    case 0x05: return 4 + 1 + buffer.readInt32LE(at); // binary
    case 0x0c: return 4 + buffer.readInt32LE(at) + 12; // DBPointer
    case 0x0b: { // regex: two cstrings
      const patternEnd = buffer.indexOf(0, at);
      return buffer.indexOf(0, patternEnd + 1) + 1 - at;
    }
    default: return undefined;
  }
}

interface Element {
  type: number;
  key: string;
  valueStart: number;
  valueEnd: number;
}

function* elements(buffer: Buffer, documentStart: number): Generator<Element, void> {
  const documentEnd = documentStart + buffer.readInt32LE(documentStart) - 1; // before the trailing 0
  let at = documentStart + 4;
  while (at < documentEnd) {
    const type = buffer[at] as number;
    const keyEnd = buffer.indexOf(0, at + 1);
    const key = buffer.toString('latin1', at + 1, keyEnd);
    const size = valueSize(buffer, type, keyEnd + 1);
    if (size === undefined) return;
    yield { type, key, valueStart: keyEnd + 1, valueEnd: keyEnd + 1 + size };
    at = keyEnd + 1 + size;
  }
}

/**
 * The bytes of each element of the array `field` of the document at `documentStart`, in
 * order; undefined for elements that are not documents. Undefined when there is no such array.
 */
export function arrayElementBytes(buffer: Buffer, documentStart: number, field: string): Array<Uint8Array | undefined> | undefined {
  let found: Element | undefined;
  for (const element of elements(buffer, documentStart)) {
    if (element.key !== field) continue;
    if (found !== undefined) return undefined; // bson keeps the last of duplicate fields: do not guess
    found = element;
  }
  return found === undefined ? undefined : documentBytesOf(buffer, found);
}

/** The bytes of each element of an array element; undefined for elements that are not documents. */
function documentBytesOf(buffer: Buffer, element: Element): Array<Uint8Array | undefined> | undefined {
  if (element.type !== 0x04) return undefined;
  const bytes: Array<Uint8Array | undefined> = [];
  for (const item of elements(buffer, element.valueStart)) {
    if (item.key !== String(bytes.length)) return undefined; // not a well-formed array
    bytes.push(item.type === 0x03 ? buffer.subarray(item.valueStart, item.valueEnd) : undefined);
  }
  return bytes;
}

const OBJECT_ID = 0x07;
const ID_KEY = Buffer.from('_id\0', 'latin1');

/**
 * `document` (BSON) with `_id` moved to the front, as the store keeps documents (mongod does
 * the same; the Node driver appends the `_id` it generates). With `generatedId`, the document
 * has no `_id` and gets that ObjectId first. Undefined when the layout is not as expected.
 */
export function withIdFirst(document: Uint8Array, generatedId?: Uint8Array): Buffer | undefined {
  const buffer = Buffer.from(document.buffer, document.byteOffset, document.byteLength);
  let id: Element | undefined;
  for (const element of elements(buffer, 0)) {
    if (element.key !== '_id') continue;
    if (id !== undefined) return undefined; // duplicate _id: bson keeps the last, do not guess
    id = element;
  }
  let idBytes: Buffer;
  let rest: Buffer[];
  if (generatedId !== undefined) {
    if (id !== undefined || generatedId.length !== 12) return undefined;
    idBytes = Buffer.concat([Buffer.of(OBJECT_ID), ID_KEY, generatedId]);
    rest = [buffer.subarray(4, buffer.length - 1)];
  } else {
    if (id === undefined) return undefined;
    const idStart = id.valueStart - ID_KEY.length - 1; // type byte, then "_id\0"
    idBytes = buffer.subarray(idStart, id.valueEnd);
    rest = [buffer.subarray(4, idStart), buffer.subarray(id.valueEnd, buffer.length - 1)];
  }
  const length = 4 + idBytes.length + rest.reduce((sum, part) => sum + part.length, 0) + 1;
  const out = Buffer.allocUnsafe(length);
  out.writeInt32LE(length, 0);
  let at = 4 + idBytes.copy(out, 4);
  for (const part of rest) at += part.copy(out, at);
  out[at] = 0;
  return out;
}
