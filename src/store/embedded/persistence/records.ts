/**
 * Framing shared by the journal and snapshots: `[u32 length][u32 crc32][BSON payload]`.
 * Reading stops at the first incomplete or corrupt record, which after a crash can only be
 * the torn last write; the caller truncates the file there.
 */
import { crc32 } from 'node:zlib';
import { deserialize, serialize } from 'bson';
import type { Document } from 'bson';
import { DESERIALIZE_OPTIONS } from '../wire/codec.js';

const FRAME_HEADER = 8;

export function encodeRecord(payload: Document): Buffer {
  const body = serialize(payload);
  const frame = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.writeUInt32LE(crc32(body), 4);
  frame.set(body, FRAME_HEADER);
  return frame;
}

export interface DecodedRecords {
  records: Document[];
  /** Byte length of the valid prefix; anything after it is a torn or corrupt tail. */
  validLength: number;
  /** Where each record ends (the offset just past it). */
  ends: number[];
}

export function decodeRecords(buffer: Buffer): DecodedRecords {
  const records: Document[] = [];
  const ends: number[] = [];
  let offset = 0;
  while (offset + FRAME_HEADER <= buffer.length) {
    const length = buffer.readUInt32LE(offset);
    const checksum = buffer.readUInt32LE(offset + 4);
    const end = offset + FRAME_HEADER + length;
    if (length < 5 || end > buffer.length) break;
    const body = buffer.subarray(offset + FRAME_HEADER, end);
    if (crc32(body) !== checksum) break;
    records.push(deserialize(body, DESERIALIZE_OPTIONS));
    ends.push(end);
    offset = end;
  }
  return { records, validLength: offset, ends };
}
