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

/**
 * The elements of the document at `documentStart`, walked in place: for each one `visit` gets its
 * type, where its key starts and ends, and where its value starts and ends, and answers false to
 * stop. Answers false when an element of an unknown type stopped the walk. No key is decoded into a
 * string and nothing is allocated per element: inserts walk every command this way.
 */
function walkElements(buffer: Buffer, documentStart: number, visit: (type: number, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number) => boolean): boolean {
  const documentEnd = documentStart + buffer.readInt32LE(documentStart) - 1; // before the trailing 0
  let at = documentStart + 4;
  while (at < documentEnd) {
    const type = buffer[at] as number;
    const keyEnd = buffer.indexOf(0, at + 1);
    const size = valueSize(buffer, type, keyEnd + 1);
    if (size === undefined) return false;
    if (!visit(type, at + 1, keyEnd, keyEnd + 1, keyEnd + 1 + size)) return true;
    at = keyEnd + 1 + size;
  }
  return true;
}

function keyIs(buffer: Buffer, keyStart: number, keyEnd: number, key: Buffer): boolean {
  if (keyEnd - keyStart !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (buffer[keyStart + i] !== key[i]) return false;
  return true;
}

/** Whether the key is the decimal `index`, as an array's keys are ("0", "1", …, no leading zeros). */
function keyIsIndex(buffer: Buffer, keyStart: number, keyEnd: number, index: number): boolean {
  let value = 0;
  for (let i = keyStart; i < keyEnd; i++) {
    const digit = (buffer[i] as number) - 0x30;
    if (digit < 0 || digit > 9 || (i > keyStart && value === 0)) return false;
    value = value * 10 + digit;
  }
  return keyEnd > keyStart && value === index;
}

interface Found {
  type: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * The one element named `key`: null when there is none, undefined when that cannot be told — more
 * than one (bson keeps the last: do not guess) or an element of an unknown type before it.
 */
function onlyElement(buffer: Buffer, documentStart: number, key: Buffer): Found | null | undefined {
  let found: Found | null = null;
  let duplicate = false;
  const complete = walkElements(buffer, documentStart, (type, keyStart, keyEnd, valueStart, valueEnd) => {
    if (!keyIs(buffer, keyStart, keyEnd, key)) return true;
    duplicate = found !== null;
    found = { type, valueStart, valueEnd };
    return !duplicate;
  });
  return complete && !duplicate ? found : undefined;
}

/**
 * The bytes of each element of the array `field` of the document at `documentStart`, in
 * order; undefined for elements that are not documents. Undefined when there is no such array.
 */
export function arrayElementBytes(buffer: Buffer, documentStart: number, field: string): Array<Uint8Array | undefined> | undefined {
  const array = onlyElement(buffer, documentStart, Buffer.from(field, 'latin1'));
  if (!array || array.type !== 0x04) return undefined;
  const bytes: Array<Uint8Array | undefined> = [];
  let wellFormed = true;
  const complete = walkElements(buffer, array.valueStart, (type, keyStart, keyEnd, valueStart, valueEnd) => {
    wellFormed = keyIsIndex(buffer, keyStart, keyEnd, bytes.length);
    if (wellFormed) bytes.push(type === 0x03 ? buffer.subarray(valueStart, valueEnd) : undefined);
    return wellFormed;
  });
  return complete && wellFormed ? bytes : undefined;
}

const OBJECT_ID = 0x07;
const ID_KEY = Buffer.from('_id\0', 'latin1');
const ID_NAME = Buffer.from('_id', 'latin1');

/**
 * `document` (BSON) with `_id` moved to the front, as the store keeps documents (mongod does
 * the same; the Node driver appends the `_id` it generates). With `generatedId`, the document
 * has no `_id` and gets that ObjectId first. Undefined when the layout is not as expected.
 */
export function withIdFirst(document: Uint8Array, generatedId?: Uint8Array): Buffer | undefined {
  const buffer = Buffer.from(document.buffer, document.byteOffset, document.byteLength);
  const id = onlyElement(buffer, 0, ID_NAME);
  if (id === undefined) return undefined;
  let idBytes: Buffer;
  let rest: Buffer[];
  if (generatedId !== undefined) {
    if (id !== null || generatedId.length !== 12) return undefined;
    idBytes = Buffer.concat([Buffer.of(OBJECT_ID), ID_KEY, generatedId]);
    rest = [buffer.subarray(4, buffer.length - 1)];
  } else {
    if (id === null) return undefined;
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
