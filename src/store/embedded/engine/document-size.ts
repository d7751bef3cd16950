/**
 * MongoDB's 16 MiB limit on a stored document, enforced before a write changes anything: the
 * bson library truncates values past its 17 MiB serialization buffer without an error, so a
 * larger document would be journaled, snapshotted and answered damaged.
 */
import { calculateObjectSize } from 'bson';
import type { Document } from 'bson';
import { ErrorCodes, failure } from '../errors.js';

export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;

/** mongod's refusal of an insert (BadValue). `encoded`: the document's bytes, when known. */
export function assertInsertable(doc: Document, encoded?: Uint8Array): void {
  const size = encoded?.length ?? calculateObjectSize(doc);
  if (size > MAX_BSON_OBJECT_SIZE) {
    throw failure(ErrorCodes.BadValue, `object to insert too large. size in bytes: ${size}, max size: ${MAX_BSON_OBJECT_SIZE}`);
  }
}

/** mongod's refusal of an update whose result is too large (17419). */
export function assertUpdatable(next: Document): void {
  if (calculateObjectSize(next) > MAX_BSON_OBJECT_SIZE) {
    throw failure(ErrorCodes.Location17419, `Resulting document after update is larger than ${MAX_BSON_OBJECT_SIZE}`);
  }
}
