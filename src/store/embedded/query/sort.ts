/**
 * Sorting in BSON order. For an array field mongod sorts ascending by the smallest element
 * and descending by the largest; a missing field sorts as null, an empty array below null.
 */
import type { Document } from 'bson';
import { compareValues } from '../bson/compare.js';
import { EMPTY_ARRAY, MISSING, indexValuesAtPath } from '../engine/paths.js';
import { failure, ErrorCodes } from '../errors.js';

interface SortField {
  parts: string[];
  direction: 1 | -1;
}

function sortValue(doc: Document, field: SortField): unknown {
  const values = indexValuesAtPath(doc, field.parts);
  let best: unknown;
  let first = true;
  for (const raw of values) {
    if (raw === EMPTY_ARRAY) return EMPTY_ARRAY;
    const value = raw === MISSING ? null : raw;
    if (first || compareValues(value, best) * field.direction < 0) best = value;
    first = false;
  }
  return best;
}

function compareSortValues(a: unknown, b: unknown): number {
  if (a === EMPTY_ARRAY || b === EMPTY_ARRAY) return a === b ? 0 : a === EMPTY_ARRAY ? -1 : 1;
  return compareValues(a, b);
}

export function parseSortSpec(spec: Document): SortField[] {
  return Object.entries(spec).map(([path, direction]) => {
    if (typeof direction === 'object' && direction !== null) {
      // {$meta: 'textScore'} and similar: text search is not supported, keep natural order.
      return { parts: path.split('.'), direction: 1 };
    }
    const numeric = Number(direction);
    if (numeric !== 1 && numeric !== -1) {
      throw failure(ErrorCodes.Location15975, '$sort key ordering must be 1 (for ascending) or -1 (for descending)');
    }
    return { parts: path.split('.'), direction: numeric };
  });
}

/** Sorts a copy with keys extracted once per document (decorate-sort-undecorate). */
export function sortDocuments(docs: readonly Document[], spec: Document): Document[] {
  const fields = parseSortSpec(spec);
  if (fields.length === 0) return [...docs];
  const decorated = docs.map((doc) => ({ doc, keys: fields.map((field) => sortValue(doc, field)) }));
  decorated.sort((a, b) => {
    for (let i = 0; i < fields.length; i++) {
      const diff = compareSortValues(a.keys[i], b.keys[i]);
      if (diff !== 0) return diff * (fields[i] as SortField).direction;
    }
    return 0;
  });
  return decorated.map(({ doc }) => doc);
}
