/**
 * Secondary indexes: a map from a canonical key string to the ids of the documents carrying
 * that key. Covers single-field, compound, multikey, unique, sparse, partial and TTL indexes
 * (the kinds medhub's schemas declare). The `_id` index is the collection's primary map.
 */
import type { Document } from 'bson';
import { canonicalKey } from '../bson/canonical-key.js';
import { EMPTY_ARRAY, MISSING, indexValuesAtPath } from './paths.js';
import type { KeyValue } from './paths.js';

export type DocumentPredicate = (doc: Document) => boolean;

export interface IndexField {
  path: string;
  parts: string[];
  direction: unknown;
}

/** A canonical string for one key value; null, missing and undefined share one, like in mongod. */
export function keyPart(value: KeyValue): string {
  if (value === MISSING) return 'z';
  if (value === EMPTY_ARRAY) return 'u';
  return canonicalKey(value);
}

const KEY_SEPARATOR = '\u0001';

const NO_IDS: readonly string[] = Object.freeze([]);

export class CollectionIndex {
  readonly name: string;
  readonly spec: Document;
  readonly fields: IndexField[];
  readonly unique: boolean;
  readonly sparse: boolean;
  readonly expireAfterSeconds: number | undefined;
  private readonly partialFilter: DocumentPredicate | undefined;
  /** The top-level fields the keys (and partial filter) come from; undefined when any field may matter (wildcard, a partial filter with operators at its top). */
  private readonly roots: ReadonlySet<string> | undefined;
  /**
   * keyString → the id (canonical `_id` key) holding it, or a Set of them when several do. Most
   * keys belong to one document (every unique index, most compound ones), and a Set per key cost
   * about 150 bytes more per entry.
   */
  private readonly entries = new Map<string, string | Set<string>>();

  constructor(spec: Document, partialFilter: DocumentPredicate | undefined) {
    this.spec = spec;
    this.name = String(spec.name);
    this.fields = Object.entries(spec.key as Document).map(([path, direction]) => ({
      path,
      parts: path.split('.'),
      direction,
    }));
    this.unique = spec.unique === true;
    this.sparse = spec.sparse === true;
    this.expireAfterSeconds = typeof spec.expireAfterSeconds === 'number' ? spec.expireAfterSeconds : undefined;
    this.partialFilter = partialFilter;
    this.roots = rootsOf(this.fields, spec.partialFilterExpression as Document | undefined);
  }

  /** Whether changing these top-level fields of a document may change its keys in this index. */
  dependsOnAny(changedFields: ReadonlySet<string>): boolean {
    if (this.roots === undefined) return true;
    for (const root of this.roots) if (changedFields.has(root)) return true;
    return false;
  }

  get keyPattern(): Document {
    return spec(this.fields);
  }

  get isTextOrGeo(): boolean {
    return this.fields.some((field) => typeof field.direction === 'string');
  }

  /**
   * Every key string this document contributes; empty when the index skips it
   * (sparse index and all fields missing, or partial filter not matched).
   */
  keysOf(doc: Document): Array<{ key: string; values: KeyValue[] }> {
    if (this.partialFilter !== undefined && !this.partialFilter(doc)) return [];
    const perField = this.fields.map((field) => indexValuesAtPath(doc, field.parts));
    if (this.sparse && perField.every((values) => values.length === 1 && values[0] === MISSING)) return [];
    // Most documents hold one value per key field (no arrays): one key, without the combinations.
    if (perField.every((values) => values.length === 1)) {
      const values = perField.map((single) => single[0] as KeyValue);
      return [{ key: values.map(keyPart).join(KEY_SEPARATOR), values }];
    }
    const combinations = cartesian(perField);
    const seen = new Set<string>();
    const keys: Array<{ key: string; values: KeyValue[] }> = [];
    for (const values of combinations) {
      const key = values.map(keyPart).join(KEY_SEPARATOR);
      if (seen.has(key)) continue;
      seen.add(key);
      keys.push({ key, values });
    }
    return keys;
  }

  /** The key string for an equality lookup with one value per field, in field order. */
  lookupKey(values: unknown[]): string {
    return values.map((value) => keyPart(value)).join(KEY_SEPARATOR);
  }

  /** The ids holding `key`, in the order they were added. */
  idsFor(key: string): Iterable<string> {
    const held = this.entries.get(key);
    if (held === undefined) return NO_IDS;
    return typeof held === 'string' ? [held] : held;
  }

  /** An id other than `selfId` that already holds `key`, if any. */
  conflictingId(key: string, selfId: string): string | undefined {
    const held = this.entries.get(key);
    if (held === undefined) return undefined;
    if (typeof held === 'string') return held === selfId ? undefined : held;
    for (const id of held) if (id !== selfId) return id;
    return undefined;
  }

  add(key: string, id: string): void {
    const held = this.entries.get(key);
    if (held === undefined) this.entries.set(key, id);
    else if (typeof held !== 'string') held.add(id);
    else if (held !== id) this.entries.set(key, new Set([held, id]));
  }

  remove(key: string, id: string): void {
    const held = this.entries.get(key);
    if (held === undefined) return;
    if (typeof held === 'string') {
      if (held === id) this.entries.delete(key);
      return;
    }
    held.delete(id);
    if (held.size === 1) this.entries.set(key, held.values().next().value as string);
    else if (held.size === 0) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

function spec(fields: IndexField[]): Document {
  const pattern: Document = {};
  for (const field of fields) pattern[field.path] = field.direction;
  return pattern;
}

function cartesian(lists: KeyValue[][]): KeyValue[][] {
  let result: KeyValue[][] = [[]];
  for (const list of lists) {
    const next: KeyValue[][] = [];
    for (const prefix of result) for (const value of list) next.push([...prefix, value]);
    result = next;
  }
  return result;
}

/** mongod's default index name: `a_1_b_-1`. */
export function defaultIndexName(key: Document): string {
  return Object.entries(key)
    .map(([field, direction]) => `${field}_${String(direction)}`)
    .join('_');
}

/**
 * The top-level fields an update must touch to change a document's keys: the key fields', and
 * those its partial filter names (a filter with an operator at its top — `$and`, `$or` — may
 * depend on anything). Updates elsewhere leave the index alone.
 */
function rootsOf(fields: IndexField[], partialFilter: Document | undefined): ReadonlySet<string> | undefined {
  if (fields.some((field) => field.path.includes('$'))) return undefined;
  const filterFields = partialFilter === undefined ? [] : Object.keys(partialFilter);
  if (filterFields.some((field) => field.startsWith('$'))) return undefined;
  return new Set([...fields.map((field) => field.parts[0] as string), ...filterFields.map((field) => field.split('.')[0] as string)]);
}
