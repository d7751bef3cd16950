/**
 * Classification of the JS values `bson.deserialize` produces (with `promoteLongs: false`,
 * so int64 stays a `Long` and round-trips as int64, like in mongod).
 */
import type { Decimal128, Long } from 'bson';

export type PlainDocument = Record<string, unknown>;

/** The document with `_id` as its first field, as mongod stores and answers it (itself when it already is, or has none). */
export function moveIdFirst<T extends PlainDocument>(doc: T): T {
  if (doc._id === undefined || Object.keys(doc)[0] === '_id') return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest } as unknown as T;
}

/** The `_bsontype` tag every class of the bson package carries (ObjectId, Long, Decimal128…). */
export function bsonTag(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === 'string' ? tag : undefined;
}

export function isPlainDocument(value: unknown): value is PlainDocument {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function isNumeric(value: unknown): value is number | Long | Decimal128 {
  if (typeof value === 'number') return true;
  const tag = bsonTag(value);
  return tag === 'Long' || tag === 'Decimal128' || tag === 'Int32' || tag === 'Double';
}

export function isLong(value: unknown): value is Long {
  return bsonTag(value) === 'Long';
}

export function isDecimal(value: unknown): value is Decimal128 {
  return bsonTag(value) === 'Decimal128';
}

/**
 * Canonical BSON type order used by sort and comparison
 * (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/):
 * MinKey < null/missing < numbers < symbol,string < object < array < binData < ObjectId
 * < boolean < date < timestamp < regex < (code) < MaxKey.
 */
export const TypeRank = {
  MinKey: 1,
  Null: 2,
  Number: 3,
  String: 4,
  Object: 5,
  Array: 6,
  BinData: 7,
  ObjectId: 8,
  Boolean: 9,
  Date: 10,
  Timestamp: 11,
  RegExp: 12,
  Code: 13,
  MaxKey: 14,
} as const;

export function typeRank(value: unknown): number {
  if (value === undefined || value === null) return TypeRank.Null;
  switch (typeof value) {
    case 'number':
    case 'bigint':
      return TypeRank.Number;
    case 'string':
      return TypeRank.String;
    case 'boolean':
      return TypeRank.Boolean;
    default:
      break;
  }
  if (Array.isArray(value)) return TypeRank.Array;
  if (value instanceof Date) return TypeRank.Date;
  if (value instanceof RegExp) return TypeRank.RegExp;
  if (value instanceof Uint8Array) return TypeRank.BinData;
  switch (bsonTag(value)) {
    case 'Long':
    case 'Decimal128':
    case 'Int32':
    case 'Double':
      return TypeRank.Number;
    case 'BSONSymbol':
      return TypeRank.String;
    case 'Binary':
      return TypeRank.BinData;
    case 'ObjectId':
      return TypeRank.ObjectId;
    case 'Timestamp':
      return TypeRank.Timestamp;
    case 'BSONRegExp':
      return TypeRank.RegExp;
    case 'Code':
      return TypeRank.Code;
    case 'MinKey':
      return TypeRank.MinKey;
    case 'MaxKey':
      return TypeRank.MaxKey;
    default:
      return TypeRank.Object;
  }
}

/** The `$type` alias of a stored value, as mongod names it. */
export function bsonTypeAlias(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'number') {
    // bson serializes integral JS numbers in int32 range as int32 and everything else as double.
    return Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 ? 'int' : 'double';
  }
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (value instanceof RegExp) return 'regex';
  const tags: Record<string, string> = {
    Long: 'long',
    Decimal128: 'decimal',
    Int32: 'int',
    Double: 'double',
    ObjectId: 'objectId',
    Binary: 'binData',
    Timestamp: 'timestamp',
    BSONRegExp: 'regex',
    BSONSymbol: 'symbol',
    Code: 'javascript',
    MinKey: 'minKey',
    MaxKey: 'maxKey',
  };
  const tag = bsonTag(value);
  if (tag !== undefined) return tags[tag] ?? 'object';
  if (value instanceof Uint8Array) return 'binData';
  return 'object';
}
