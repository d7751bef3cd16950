/**
 * Chooses the documents a filter must be tested against. Equality on `_id`, or on every
 * field of a (non-partial) index, is answered from the index map instead of a scan — this
 * is what keeps an indexed findOne O(1) on large collections.
 */
import type { Document } from 'bson';
import { canonicalKey } from '../bson/canonical-key.js';
import { isPlainDocument } from '../bson/values.js';
import type { Collection } from '../engine/collection.js';

const NOT_AN_EQUALITY = Symbol('notEquality');

/** The equality operands a filter field pins (one value, or the list of a `$in`). */
function equalityValues(condition: unknown): unknown[] | typeof NOT_AN_EQUALITY {
  if (condition instanceof RegExp || Array.isArray(condition)) return NOT_AN_EQUALITY;
  if (isPlainDocument(condition)) {
    const keys = Object.keys(condition);
    if (keys.length === 0 || !keys.every((key) => key.startsWith('$'))) {
      // A literal embedded document: exact match, indexable as one value.
      return keys.some((key) => key.startsWith('$')) ? NOT_AN_EQUALITY : [condition];
    }
    if (keys.length !== 1) return NOT_AN_EQUALITY;
    if ('$eq' in condition) return equalityValues(condition.$eq);
    if ('$in' in condition && Array.isArray(condition.$in)) {
      const values = condition.$in as unknown[];
      return values.some((value) => value instanceof RegExp || Array.isArray(value)) ? NOT_AN_EQUALITY : values;
    }
    return NOT_AN_EQUALITY;
  }
  return [condition];
}

function byIdKeys(collection: Collection, values: unknown[]): Document[] {
  const docs: Document[] = [];
  const seen = new Set<string>();
  for (const value of values) {
    const key = canonicalKey(value);
    if (seen.has(key)) continue;
    seen.add(key);
    const doc = collection.documents.get(key);
    if (doc !== undefined) docs.push(doc);
  }
  return docs;
}

/** Documents that may match `filter` (a superset); the caller still applies the full filter. */
export function candidateDocuments(collection: Collection, filter: Document | undefined | null): Iterable<Document> {
  if (filter === undefined || filter === null) return collection.documents.values();
  if ('_id' in filter) {
    const ids = equalityValues(filter._id);
    if (ids !== NOT_AN_EQUALITY) return byIdKeys(collection, ids);
  }
  for (const index of collection.indexes.values()) {
    if (index.spec.partialFilterExpression !== undefined || index.isTextOrGeo) continue;
    const perField = index.fields.map((field) => (field.path in filter ? equalityValues(filter[field.path]) : NOT_AN_EQUALITY));
    if (perField.some((values) => values === NOT_AN_EQUALITY)) continue;
    const lists = perField as unknown[][];
    // A sparse index lacks documents where the field is missing, which {f: null} must find.
    if (index.sparse && lists.some((values) => values.some((value) => value === null))) continue;
    if (lists.length > 1 && lists.some((values) => values.length !== 1)) continue;
    const ids = new Set<string>();
    const keys = lists.length === 1 ? (lists[0] ?? []).map((value) => [value]) : [lists.map((values) => values[0])];
    for (const values of keys) for (const id of index.idsFor(index.lookupKey(values)) ?? []) ids.add(id);
    const docs: Document[] = [];
    for (const id of ids) {
      const doc = collection.documents.get(id);
      if (doc !== undefined) docs.push(doc);
    }
    return docs;
  }
  return collection.documents.values();
}
