/**
 * Server-side cursors for find/aggregate results larger than the first batch. Results are
 * materialised when the cursor opens (documents are immutable, so this is a list of
 * references). Ids are positive int64; idle cursors are closed after `idleTimeoutMs`
 * (mongod's cursorTimeoutMillis defaults to 10 minutes).
 */
import { randomBytes } from 'node:crypto';
import { Long, calculateObjectSize } from 'bson';
import { ErrorCodes, failure } from '../errors.js';
import { MAX_BSON_OBJECT_SIZE } from './document-size.js';
import type { Document } from 'bson';

/** mongod caps a reply batch at 16 MiB of documents. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024 - 16 * 1024;
/** mongod's BSONObjMaxInternalSize: what a computed document (aggregate, projection) may reach. */
const MAX_RESULT_DOCUMENT_BYTES = MAX_BSON_OBJECT_SIZE + 16 * 1024;

interface OpenCursor {
  ns: string;
  docs: Document[];
  position: number;
  lastUsed: number;
}

export interface Batch {
  docs: Document[];
  exhausted: boolean;
}

/**
 * The next documents of a result, at most `batchSize` and at most ~16 MiB of them, as mongod
 * batches (a reply must stay under the 16 MiB + 16 KB message documents). Every document is
 * measured: a batch of a few large documents must be capped as much as one of many small ones
 * (20 documents of 1 MiB in a first batch once made a 20 MiB reply that the encoder cut short).
 * A computed document over the limit (an aggregate's `$group` that `$push`es too much) is
 * refused as mongod refuses it, with BSONObjectTooLarge.
 */
export function takeBatch(docs: Document[], start: number, batchSize: number | undefined): Document[] {
  const limit = batchSize !== undefined && batchSize > 0 ? batchSize : Number.MAX_SAFE_INTEGER;
  const batch: Document[] = [];
  let bytes = 0;
  for (let i = start; i < docs.length && batch.length < limit; i++) {
    const doc = docs[i] as Document;
    const size = calculateObjectSize(doc);
    if (size > MAX_RESULT_DOCUMENT_BYTES) {
      throw failure(ErrorCodes.BSONObjectTooLarge, `BSONObj size: ${size} is invalid. Size must be between 0 and ${MAX_RESULT_DOCUMENT_BYTES}(16MB)`);
    }
    // As an element of the reply's array: type byte, the index as a key and its terminator.
    bytes += size + 2 + String(batch.length).length;
    if (bytes > MAX_BATCH_BYTES && batch.length > 0) break;
    batch.push(doc);
  }
  return batch;
}

export class CursorManager {
  private readonly cursors = new Map<string, OpenCursor>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly idleTimeoutMs: number) {
    this.timer = setInterval(() => this.closeIdle(), Math.min(idleTimeoutMs, 60_000));
    this.timer.unref();
  }

  /** Registers the remaining documents and returns a new non-zero cursor id. */
  open(ns: string, docs: Document[], position: number): Long {
    let id: Long;
    do {
      const bytes = randomBytes(8);
      bytes[7] = (bytes[7] as number) & 0x7f;
      id = Long.fromBigInt(bytes.readBigInt64LE());
    } while (id.isZero() || this.cursors.has(id.toString()));
    this.cursors.set(id.toString(), { ns, docs, position, lastUsed: Date.now() });
    return id;
  }

  /** The next batch, or undefined when the cursor does not exist (CursorNotFound). */
  next(id: Long, ns: string, batchSize: number | undefined): Batch | undefined {
    const key = id.toString();
    const cursor = this.cursors.get(key);
    if (cursor === undefined || cursor.ns !== ns) return undefined;
    const docs = takeBatch(cursor.docs, cursor.position, batchSize);
    cursor.position += docs.length;
    cursor.lastUsed = Date.now();
    const exhausted = cursor.position >= cursor.docs.length;
    if (exhausted) this.cursors.delete(key);
    return { docs, exhausted };
  }

  kill(id: Long): boolean {
    return this.cursors.delete(id.toString());
  }

  closeIdle(now = Date.now()): void {
    for (const [key, cursor] of this.cursors) if (now - cursor.lastUsed >= this.idleTimeoutMs) this.cursors.delete(key);
  }

  close(): void {
    clearInterval(this.timer);
    this.cursors.clear();
  }
}
