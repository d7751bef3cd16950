/**
 * The commonest document the store writes — a write's reply, `{n: 1, ok: 1}` — encoded by
 * hand. bson's `serialize` has a fixed cost of a couple of microseconds per call, paid twice
 * per durable insert (the reply on the wire and in the retryable-write journal record), which
 * is more than encoding these few bytes. Same bytes as bson: integers in int32 range as int32,
 * other numbers as double.
 */

const BSON_DOUBLE = 0x01;
const BSON_INT32 = 0x10;
const MAX_FIELDS = 8;
const SIMPLE_KEY = /^[a-zA-Z]{1,32}$/;

function isInt32(value: number): boolean {
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
}

/** The BSON size of `document` if it holds only a few plain numbers under simple keys, else undefined. */
export function numbersOnlySize(document: Record<string, unknown>): number | undefined {
  let size = 5;
  let fields = 0;
  for (const key in document) {
    const value = document[key];
    // -0 is left to bson (int32 cannot hold it); so are odd keys and larger documents.
    if (typeof value !== 'number' || Object.is(value, -0) || ++fields > MAX_FIELDS || !SIMPLE_KEY.test(key)) return undefined;
    size += 1 + key.length + 1 + (isInt32(value) ? 4 : 8);
  }
  return size;
}

/** Writes `document` (checked with numbersOnlySize, which gave `size`) at `at`; answers the end. */
export function writeNumbersOnly(document: Record<string, unknown>, size: number, buffer: Buffer, at: number): number {
  buffer.writeInt32LE(size, at);
  at += 4;
  for (const key in document) {
    const value = document[key] as number;
    const int32 = isInt32(value);
    buffer[at++] = int32 ? BSON_INT32 : BSON_DOUBLE;
    for (let index = 0; index < key.length; index++) buffer[at++] = key.charCodeAt(index);
    buffer[at++] = 0;
    at = int32 ? buffer.writeInt32LE(value, at) : buffer.writeDoubleLE(value, at);
  }
  buffer[at++] = 0;
  return at;
}
