/**
 * Renders values the way mongod prints them in E11000 messages, e.g.
 * `dup key: { email: "a@x.io" }` or `dup key: { _id: ObjectId('65a…') }`.
 */
import type { ObjectId } from 'bson';
import { bsonTag, isPlainDocument } from './values.js';

export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof RegExp) return `/${value.source}/${value.flags}`;
  if (Array.isArray(value)) return `[ ${value.map(formatValue).join(', ')} ]`;
  if (isPlainDocument(value)) return formatDocument(value);
  switch (bsonTag(value)) {
    case 'ObjectId':
      return `ObjectId('${(value as ObjectId).toHexString()}')`;
    case 'Long':
      return String(value);
    case 'Decimal128':
      return `${String(value)}`;
    default:
      return String(value);
  }
}

export function formatDocument(document: Record<string, unknown>): string {
  const entries = Object.entries(document);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([key, value]) => `${key}: ${formatValue(value)}`).join(', ')} }`;
}
