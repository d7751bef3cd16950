/**
 * Whether two values would encode to the same BSON. Updates copy only the paths they touch —
 * or clone the document, in which case the walk compares values — so most of it is reference
 * equality; serializing both (the first version) cost more than the update itself on large
 * documents.
 */
import { ObjectId, serialize } from 'bson';

export function sameBson(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b); // 0 and -0 differ in BSON
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((value, index) => sameBson(value, b[index]));
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  if (a instanceof ObjectId && b instanceof ObjectId) return a.equals(b);
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    const otherKeys = Object.keys(b);
    // Field order is part of a BSON document.
    return keys.length === otherKeys.length && keys.every((key, index) => key === otherKeys[index] && sameBson(a[key], b[key]));
  }
  // ObjectId, Long, Decimal128, Binary, RegExp…: compare their encodings.
  return Buffer.compare(serialize({ v: a }), serialize({ v: b })) === 0;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
