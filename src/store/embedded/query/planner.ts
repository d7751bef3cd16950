/**
 * Chooses the documents a filter must be tested against. Equality on `_id`, or on every
 * field of an index, is answered from the index map instead of a scan — this is what keeps
 * an indexed findOne O(1) on large collections. A partial index answers only a filter that
 * pins every equality of its partial filter (say `{processed: false}`): every document such a
 * filter can match is then in the index.
 */
import type { Document } from 'bson';
import { canonicalKey } from '../bson/canonical-key.js';
import { isPlainDocument } from '../bson/values.js';
import type { Collection } from '../engine/collection.js';
import type { CollectionIndex } from '../engine/indexes.js';

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

/**
 * `exact`: the filter holds nothing but the equalities the lookup answers, so every
 * candidate matches (index keys use the same equality as the query: numbers by value,
 * null/missing together, array elements). The caller may then skip the filter.
 */
export type QueryPlan =
  | { stage: 'COLLSCAN' }
  | { stage: 'IDHACK'; ids: unknown[]; exact: boolean }
  | { stage: 'IXSCAN'; index: CollectionIndex; keys: unknown[][]; exact: boolean };

/**
 * Whether every document the filter matches is in a partial index: each field of its partial
 * filter is pinned by the query to the very value the partial filter requires (matched by the
 * same rules on both sides, arrays included). Anything else — ranges, `$exists`, `$and` — is
 * not proven, and the index is not used.
 */
function pinsPartialFilter(filter: Document, partial: Document): boolean {
  return Object.entries(partial).every(([field, condition]) => {
    const required = equalityValues(condition);
    if (required === NOT_AN_EQUALITY || required.length !== 1 || !(field in filter)) return false;
    const pinned = equalityValues(filter[field]);
    const key = canonicalKey(required[0]);
    return pinned !== NOT_AN_EQUALITY && pinned.length > 0 && pinned.every((value) => canonicalKey(value) === key);
  });
}

/** Picks `_id` equality, then the first index whose every field is pinned by an equality. */
export function choosePlan(collection: Collection, filter: Document | undefined | null): QueryPlan {
  if (filter === undefined || filter === null) return { stage: 'COLLSCAN' };
  if ('_id' in filter) {
    const ids = equalityValues(filter._id);
    if (ids !== NOT_AN_EQUALITY) return { stage: 'IDHACK', ids, exact: Object.keys(filter).length === 1 };
  }
  for (const index of collection.indexes.values()) {
    if (index.isTextOrGeo) continue;
    const partial = index.spec.partialFilterExpression as Document | undefined;
    if (partial !== undefined && !pinsPartialFilter(filter, partial)) continue;
    const perField = index.fields.map((field) => (field.path in filter ? equalityValues(filter[field.path]) : NOT_AN_EQUALITY));
    if (perField.some((values) => values === NOT_AN_EQUALITY)) continue;
    const lists = perField as unknown[][];
    // A sparse index lacks documents where the field is missing, which {f: null} must find.
    if (index.sparse && lists.some((values) => values.some((value) => value === null))) continue;
    if (lists.length > 1 && lists.some((values) => values.length !== 1)) continue;
    const keys = lists.length === 1 ? (lists[0] ?? []).map((value) => [value]) : [lists.map((values) => values[0])];
    const exact = Object.keys(filter).every((field) => index.fields.some((indexField) => indexField.path === field));
    return { stage: 'IXSCAN', index, keys, exact };
  }
  return { stage: 'COLLSCAN' };
}

/** Documents from a plan: a superset of the matches, or exactly the matches when `plan.exact`. */
export function planDocuments(collection: Collection, plan: QueryPlan): Iterable<Document> {
  if (plan.stage === 'COLLSCAN') return collection.documents.values();
  if (plan.stage === 'IDHACK') return byIdKeys(collection, plan.ids);
  const ids = new Set<string>();
  for (const values of plan.keys) for (const id of plan.index.idsFor(plan.index.lookupKey(values))) ids.add(id);
  const docs: Document[] = [];
  for (const id of ids) {
    const doc = collection.documents.get(id);
    if (doc !== undefined) docs.push(doc);
  }
  return docs;
}

/** The plan in the shape of mongod's explain `winningPlan`. */
export function explainPlan(plan: QueryPlan): Document {
  if (plan.stage === 'COLLSCAN') return { stage: 'COLLSCAN', direction: 'forward' };
  if (plan.stage === 'IDHACK') return { stage: 'IDHACK' };
  return {
    stage: 'FETCH',
    inputStage: {
      stage: 'IXSCAN',
      keyPattern: plan.index.keyPattern,
      indexName: plan.index.name,
      isMultiKey: false,
      isUnique: plan.index.unique,
      isSparse: plan.index.sparse,
      isPartial: plan.index.spec.partialFilterExpression !== undefined,
      direction: 'forward',
    },
  };
}
