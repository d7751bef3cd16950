/**
 * One collection: documents by canonical `_id` key plus its secondary indexes. Every write
 * path (insert, replace, delete, index build) goes through here, so unique constraints are
 * enforced in one place and a failed write leaves documents and indexes untouched.
 */
import type { Document } from 'bson';
import { canonicalKey } from '../bson/canonical-key.js';
import { formatDocument } from '../bson/format.js';
import { ErrorCodes, failure } from '../errors.js';
import type { MongoServerFailure } from '../errors.js';
import type { CollectionIndex } from './indexes.js';
import { EMPTY_ARRAY, MISSING } from './paths.js';
import type { KeyValue } from './paths.js';

export const ID_INDEX_NAME = '_id_';

export function idKeyOf(doc: Document): string {
  return canonicalKey(doc._id);
}

export class Collection {
  readonly db: string;
  readonly name: string;
  readonly options: Document;
  readonly documents = new Map<string, Document>();
  /** Secondary indexes by name; the `_id` index is implicit (the documents map). */
  readonly indexes = new Map<string, CollectionIndex>();

  constructor(db: string, name: string, options: Document) {
    this.db = db;
    this.name = name;
    this.options = options;
  }

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  insert(doc: Document): void {
    const id = idKeyOf(doc);
    if (this.documents.has(id)) throw this.duplicateKey(ID_INDEX_NAME, { _id: 1 }, { _id: doc._id });
    const keys = this.checkedKeys(doc, id);
    this.documents.set(id, doc);
    for (const [index, indexKeys] of keys) for (const key of indexKeys) index.add(key, id);
  }

  /**
   * Swaps a stored document for its new version (same `_id`, which updates may not change).
   * `changedFields`: the top-level fields whose values differ, when known — the indexes built on
   * other fields keep their keys untouched (an update of a dose's state leaves 7 of its 9 alone).
   */
  replace(previous: Document, next: Document, changedFields?: ReadonlySet<string>): void {
    const id = idKeyOf(previous);
    const affected = changedFields === undefined ? [...this.indexes.values()] : [...this.indexes.values()].filter((index) => index.dependsOnAny(changedFields));
    const nextKeys = this.checkedKeys(next, id, affected);
    for (const index of affected) for (const { key } of index.keysOf(previous)) index.remove(key, id);
    this.documents.set(id, next);
    for (const [index, indexKeys] of nextKeys) for (const key of indexKeys) index.add(key, id);
  }

  remove(doc: Document): void {
    const id = idKeyOf(doc);
    for (const index of this.indexes.values()) for (const { key } of index.keysOf(doc)) index.remove(key, id);
    this.documents.delete(id);
  }

  /** Builds a new index over existing documents; a unique violation aborts the build (E11000). */
  addIndex(index: CollectionIndex): void {
    try {
      for (const [id, doc] of this.documents) {
        for (const { key, values } of index.keysOf(doc)) {
          if (index.unique && index.conflictingId(key, id) !== undefined) {
            throw this.duplicateKey(index.name, index.keyPattern, keyValueOf(index, values));
          }
          index.add(key, id);
        }
      }
    } catch (error) {
      index.clear();
      throw error;
    }
    this.indexes.set(index.name, index);
  }

  dropIndex(name: string): void {
    this.indexes.delete(name);
  }

  /** Keys per index for `doc`, after checking that no unique index already holds one for another id. */
  private checkedKeys(doc: Document, id: string, indexes: Iterable<CollectionIndex> = this.indexes.values()): Array<[CollectionIndex, string[]]> {
    const result: Array<[CollectionIndex, string[]]> = [];
    for (const index of indexes) {
      const keys = index.keysOf(doc);
      if (index.unique) {
        for (const { key, values } of keys) {
          if (index.conflictingId(key, id) !== undefined) {
            throw this.duplicateKey(index.name, index.keyPattern, keyValueOf(index, values));
          }
        }
      }
      result.push([index, keys.map(({ key }) => key)]);
    }
    return result;
  }

  /**
   * mongod's E11000 shape: `E11000 duplicate key error collection: db.c index: name dup key: { f: v }`
   * with `keyPattern` and `keyValue`, which mongoose copies onto its MongoServerError.
   */
  duplicateKey(indexName: string, keyPattern: Document, keyValue: Document): MongoServerFailure {
    return failure(
      ErrorCodes.DuplicateKey,
      `E11000 duplicate key error collection: ${this.ns} index: ${indexName} dup key: ${formatDocument(keyValue)}`,
      { keyPattern, keyValue },
    );
  }
}

function keyValueOf(index: CollectionIndex, values: KeyValue[]): Document {
  const keyValue: Document = {};
  index.fields.forEach((field, position) => {
    const value = values[position];
    keyValue[field.path] = value === MISSING || value === EMPTY_ARRAY ? null : value;
  });
  return keyValue;
}
