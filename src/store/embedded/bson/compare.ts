/**
 * BSON value comparison in mongod's order (see TypeRank), used by sort, range operators,
 * $min/$max and index bounds. Equality is "compares as 0", so 1 == 1.0 == NumberLong(1).
 */
import type { Binary, Decimal128, Long, ObjectId, Timestamp } from 'bson';
import { compareNumeric } from './numeric.js';
import { TypeRank, typeRank } from './values.js';

function compareScalars(a: number | string | boolean, b: number | string | boolean): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return (value as Binary).buffer;
}

function subtypeOf(value: unknown): number {
  return value instanceof Uint8Array ? 0 : (value as Binary).sub_type;
}

function compareBinary(a: unknown, b: unknown): number {
  // mongod orders binData by length, then subtype, then bytes.
  const left = bytesOf(a);
  const right = bytesOf(b);
  if (left.length !== right.length) return left.length < right.length ? -1 : 1;
  const subtypeDiff = subtypeOf(a) - subtypeOf(b);
  if (subtypeDiff !== 0) return Math.sign(subtypeDiff);
  return Buffer.compare(left, right);
}

function compareDocuments(a: Record<string, unknown>, b: Record<string, unknown>): number {
  // mongod compares embedded documents field by field: type of value, field name, value.
  const leftKeys = Object.keys(a);
  const rightKeys = Object.keys(b);
  const shared = Math.min(leftKeys.length, rightKeys.length);
  for (let i = 0; i < shared; i++) {
    const leftKey = leftKeys[i] as string;
    const rightKey = rightKeys[i] as string;
    const leftValue = a[leftKey];
    const rightValue = b[rightKey];
    const rankDiff = typeRank(leftValue) - typeRank(rightValue);
    if (rankDiff !== 0) return Math.sign(rankDiff);
    const keyDiff = compareScalars(leftKey, rightKey);
    if (keyDiff !== 0) return keyDiff;
    const valueDiff = compareValues(leftValue, rightValue);
    if (valueDiff !== 0) return valueDiff;
  }
  return Math.sign(leftKeys.length - rightKeys.length);
}

function compareArrays(a: unknown[], b: unknown[]): number {
  const shared = Math.min(a.length, b.length);
  for (let i = 0; i < shared; i++) {
    const diff = compareValues(a[i], b[i]);
    if (diff !== 0) return diff;
  }
  return Math.sign(a.length - b.length);
}

function compareRegExps(a: unknown, b: unknown): number {
  const source = (value: unknown): [string, string] =>
    value instanceof RegExp
      ? [value.source, value.flags]
      : [(value as { pattern: string }).pattern, (value as { options: string }).options];
  const [leftSource, leftFlags] = source(a);
  const [rightSource, rightFlags] = source(b);
  return compareScalars(leftSource, rightSource) || compareScalars(leftFlags, rightFlags);
}

/** Total order over BSON values; returns <0, 0 or >0. */
export function compareValues(a: unknown, b: unknown): number {
  const leftRank = typeRank(a);
  const rightRank = typeRank(b);
  if (leftRank !== rightRank) return leftRank < rightRank ? -1 : 1;
  switch (leftRank) {
    case TypeRank.Null:
    case TypeRank.MinKey:
    case TypeRank.MaxKey:
      return 0;
    case TypeRank.Number:
      return compareNumeric(a as number | Long | Decimal128, b as number | Long | Decimal128);
    case TypeRank.String:
      return compareScalars(String(a), String(b));
    case TypeRank.Boolean:
      return compareScalars(a as boolean, b as boolean);
    case TypeRank.Date:
      return compareScalars((a as Date).getTime(), (b as Date).getTime());
    case TypeRank.ObjectId:
      return compareScalars((a as ObjectId).toHexString(), (b as ObjectId).toHexString());
    case TypeRank.Timestamp: {
      const left = a as Timestamp;
      const right = b as Timestamp;
      return compareScalars(left.t, right.t) || compareScalars(left.i, right.i);
    }
    case TypeRank.BinData:
      return compareBinary(a, b);
    case TypeRank.RegExp:
      return compareRegExps(a, b);
    case TypeRank.Array:
      return compareArrays(a as unknown[], b as unknown[]);
    case TypeRank.Code:
      return compareScalars(String((a as { code: string }).code), String((b as { code: string }).code));
    default:
      return compareDocuments(a as Record<string, unknown>, b as Record<string, unknown>);
  }
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return compareValues(a, b) === 0;
}
