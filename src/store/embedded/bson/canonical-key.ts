/**
 * A string per value such that two values get the same string exactly when mongod treats
 * them as equal for index keys, `$group` and `distinct`: numbers of any type by numeric
 * value, embedded documents by field order and values, strings by code units.
 * null and missing share a key, as in a mongod index.
 */
import type { Binary, Decimal128, Long, ObjectId, Timestamp } from 'bson';
import { numericKey } from './numeric.js';
import { TypeRank, typeRank } from './values.js';

export function canonicalKey(value: unknown): string {
  switch (typeRank(value)) {
    case TypeRank.Null:
      return 'z';
    case TypeRank.MinKey:
      return 'm';
    case TypeRank.MaxKey:
      return 'M';
    case TypeRank.Number:
      return `n${numericKey(value as number | Long | Decimal128)}`;
    case TypeRank.String:
      return `s${JSON.stringify(String(value))}`;
    case TypeRank.Boolean:
      return value === true ? 't' : 'f';
    case TypeRank.Date:
      return `d${(value as Date).getTime()}`;
    case TypeRank.ObjectId:
      return `o${(value as ObjectId).toHexString()}`;
    case TypeRank.Timestamp:
      return `T${(value as Timestamp).t}:${(value as Timestamp).i}`;
    case TypeRank.BinData: {
      const binary = value instanceof Uint8Array ? { sub_type: 0, buffer: value } : (value as Binary);
      return `b${binary.sub_type}:${Buffer.from(binary.buffer).toString('base64')}`;
    }
    case TypeRank.RegExp:
      return value instanceof RegExp
        ? `r${JSON.stringify([value.source, value.flags])}`
        : `r${JSON.stringify([(value as { pattern: string }).pattern, (value as { options: string }).options])}`;
    case TypeRank.Array:
      return `[${(value as unknown[]).map(canonicalKey).join(',')}]`;
    case TypeRank.Code:
      return `c${JSON.stringify(String((value as { code: string }).code))}`;
    default: {
      const entries = Object.entries(value as Record<string, unknown>).map(
        ([key, entry]) => `${JSON.stringify(key)}:${canonicalKey(entry)}`,
      );
      return `{${entries.join(',')}}`;
    }
  }
}
