/**
 * Deep copy of a document's structure (plain objects and arrays). BSON value objects
 * (ObjectId, Long, Decimal128, Binary, Date…) are never mutated by the store, so they are
 * shared. Stored documents are treated as immutable: every update works on a clone, which
 * lets snapshots and open cursors keep references without copying.
 */
import { isPlainDocument } from './values.js';

export function cloneValue<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => cloneValue(item)) as T;
  if (isPlainDocument(value)) {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) copy[key] = cloneValue(value[key]);
    return copy as T;
  }
  return value;
}
