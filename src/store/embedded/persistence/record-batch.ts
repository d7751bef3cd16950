/**
 * Journal records encoded straight into one reusable batch buffer, which the journal writes
 * with a single `writeSync` and then clears. Each record is framed as in records.ts —
 * `[u32 length][u32 crc32][BSON {ops: [...]}]` — and decodes with `decodeRecords`.
 *
 * Why not `encodeRecord`: it serializes every op (the inserted document included) into a new
 * buffer, copies it into a frame, and the journal then concatenated the frames of a batch.
 * Most inserted documents arrive as BSON from the wire and are stored unchanged, so their
 * bytes are copied as received (`encoded` on the insert op) instead of being serialized
 * again: together the largest part of the store's CPU per durable insert.
 */
import { crc32 } from 'node:zlib';
import { Long, calculateObjectSize, serializeWithBufferAndIndex } from 'bson';
import type { Document } from 'bson';
import type { JournalOp } from '../engine/journal-ops.js';
import { numbersOnlySize, writeNumbersOnly } from '../bson/numbers-only.js';

const FRAME_HEADER = 8;
const INITIAL_BYTES = 64 * 1024;
/** A batch that grew past this (a large insertMany) is not kept for the next one. */
const RETAINED_BYTES = 1024 * 1024;

const BSON_STRING = 0x02;
const BSON_DOCUMENT = 0x03;
const BSON_ARRAY = 0x04;
const BSON_DATE = 0x09;
const BSON_INT64 = 0x12;

export class RecordBatch {
  private buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  private used = 0;

  /** Bytes encoded since the last clear. */
  get length(): number {
    return this.used;
  }

  /** The encoded records; valid until the next `append` or `clear`. */
  contents(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  clear(): void {
    this.used = 0;
    if (this.buffer.length > RETAINED_BYTES) this.buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  }

  /** Encodes one record holding `ops`; answers its size in bytes, frame included. */
  append(ops: readonly JournalOp[]): number {
    const start = this.used;
    try {
      let at = start + FRAME_HEADER;
      const body = at;
      this.ensure(at + 4 + 1 + 4 + 4);
      at += 4; // document length, patched below
      this.buffer[at++] = BSON_ARRAY;
      at = this.writeCString('ops', at);
      const array = at;
      at += 4; // array length, patched below
      for (let index = 0; index < ops.length; index++) at = this.writeOp(String(index), ops[index] as JournalOp, at);
      this.ensure(at + 2);
      this.buffer[at++] = 0; // end of array
      this.buffer.writeInt32LE(at - array, array);
      this.buffer[at++] = 0; // end of document
      this.buffer.writeInt32LE(at - body, body);
      this.buffer.writeUInt32LE(at - body, start);
      this.buffer.writeUInt32LE(crc32(this.buffer.subarray(body, at)), start + 4);
      this.used = at;
      return at - start;
    } catch (error) {
      this.used = start; // nothing half-written stays in the batch
      throw error;
    }
  }

  /** One array element: `{type}{key}\0{document}`. */
  private writeOp(key: string, op: JournalOp, at: number): number {
    if (op.op === 'insert' && op.encoded !== undefined) return this.writeInsertAsReceived(key, op.ns, op.encoded, at);
    if (op.op === 'retryableWrite' && op.txnNumber instanceof Long) return this.writeRetryableWrite(key, op, op.txnNumber, at);
    this.ensure(at + 1 + key.length + 1);
    this.buffer[at++] = BSON_DOCUMENT;
    at = this.writeCString(key, at);
    return this.serializeAt(op, at);
  }

  /** Serializes into the batch itself (no intermediate buffer); grows it when it does not fit. */
  private serializeAt(value: Document, at: number): number {
    try {
      return serializeWithBufferAndIndex(value, this.buffer, { index: at }) + 1;
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      this.ensure(at + calculateObjectSize(value));
      return serializeWithBufferAndIndex(value, this.buffer, { index: at }) + 1;
    }
  }

  /** `{op: 'insert', ns, doc}` with the document's bytes as they arrived. */
  private writeInsertAsReceived(key: string, ns: string, doc: Uint8Array, at: number): number {
    const nsBytes = Buffer.byteLength(ns);
    const size = 4 + (1 + 3 + 4 + 7) + (1 + 3 + 4 + nsBytes + 1) + (1 + 4 + doc.length) + 1;
    this.ensure(at + 1 + key.length + 1 + size);
    this.buffer[at++] = BSON_DOCUMENT;
    at = this.writeCString(key, at);
    const opStart = at;
    at += 4;
    at = this.writeStringElement('op', 'insert', at);
    at = this.writeStringElement('ns', ns, at);
    this.buffer[at++] = BSON_DOCUMENT;
    at = this.writeCString('doc', at);
    this.buffer.set(doc, at);
    at += doc.length;
    this.buffer[at++] = 0;
    this.buffer.writeInt32LE(at - opStart, opStart);
    return at;
  }

  /** One per retryable write, so as hot as the insert itself; only `reply` goes through bson. */
  private writeRetryableWrite(key: string, op: Extract<JournalOp, { op: 'retryableWrite' }>, txnNumber: Long, at: number): number {
    const sessionBytes = Buffer.byteLength(op.session);
    this.ensure(at + 1 + key.length + 1 + 4 + (1 + 3 + 4 + 15) + (1 + 8 + 4 + sessionBytes + 1) + (1 + 10 + 8) + (1 + 6) + (1 + 3 + 8));
    this.buffer[at++] = BSON_DOCUMENT;
    at = this.writeCString(key, at);
    const opStart = at;
    at += 4;
    at = this.writeStringElement('op', 'retryableWrite', at);
    at = this.writeStringElement('session', op.session, at);
    this.buffer[at++] = BSON_INT64;
    at = this.writeCString('txnNumber', at);
    this.buffer.writeInt32LE(txnNumber.low, at);
    this.buffer.writeInt32LE(txnNumber.high, at + 4);
    at += 8;
    this.buffer[at++] = BSON_DOCUMENT;
    at = this.writeCString('reply', at);
    const replySize = numbersOnlySize(op.reply);
    if (replySize === undefined) at = this.serializeAt(op.reply, at);
    else {
      this.ensure(at + replySize);
      at = writeNumbersOnly(op.reply, replySize, this.buffer, at);
    }
    this.ensure(at + 1 + 3 + 8 + 1);
    this.buffer[at++] = BSON_DATE;
    at = this.writeCString('at', at);
    const time = op.at.getTime();
    this.buffer.writeUInt32LE(time >>> 0, at); // int64 little-endian: low word, then high
    this.buffer.writeInt32LE(Math.floor(time / 2 ** 32), at + 4);
    at += 8;
    this.buffer[at++] = 0;
    this.buffer.writeInt32LE(at - opStart, opStart);
    return at;
  }

  private writeStringElement(key: string, value: string, at: number): number {
    this.buffer[at++] = BSON_STRING;
    at = this.writeCString(key, at);
    const length = isShortAscii(value) ? this.writeAscii(value, at + 4) : this.buffer.write(value, at + 4, 'utf8');
    this.buffer.writeInt32LE(length + 1, at);
    at += 4 + length;
    this.buffer[at++] = 0;
    return at;
  }

  /** Keys here are short ASCII (op names and array indexes). */
  private writeCString(value: string, at: number): number {
    at += this.writeAscii(value, at);
    this.buffer[at++] = 0;
    return at;
  }

  /** For short strings a loop beats a call into C++ (`buffer.write`); answers the bytes written. */
  private writeAscii(value: string, at: number): number {
    for (let index = 0; index < value.length; index++) this.buffer[at + index] = value.charCodeAt(index);
    return value.length;
  }

  private ensure(needed: number): void {
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    // The whole buffer: the record being encoded lies past `used`.
    this.buffer.copy(grown);
    this.buffer = grown;
  }
}

function isShortAscii(value: string): boolean {
  if (value.length > 64) return false;
  for (let index = 0; index < value.length; index++) if (value.charCodeAt(index) > 0x7f) return false;
  return true;
}
