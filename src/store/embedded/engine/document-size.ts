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

/**
 * The same for an update that only changed the values of `set`'s top-level fields. A stored
 * document is within the limit, so one that does not grow needs no new measure: only the changed
 * fields are measured, and the whole document only when they grew. Measuring every updated
 * document whole was half the cost of an update of a device's `lastSeenAt` (runs AR in
 * docs/benchmarks/ingest.md).
 */
export function assertPatchable(previous: Document, next: Document, set: Document): void {
  let growth = 0;
  for (const field of Object.keys(set)) growth += calculateObjectSize({ [field]: set[field] }) - calculateObjectSize({ [field]: previous[field] });
  if (growth > 0) assertUpdatable(next);
}
