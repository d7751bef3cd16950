/**
 * Databases, collections and their indexes. Every change goes through a method that also
 * records a JournalOp in the caller's WriteLog; `apply` replays those ops on start-up.
 */
import type { Document } from 'bson';
import { sameBson } from '../bson/same-bson.js';
import { ErrorCodes, failure } from '../errors.js';
import { compileFilter } from '../query/matcher.js';
import { Collection, ID_INDEX_NAME, idKeyOf } from './collection.js';
import { assertInsertable, assertPatchable, assertUpdatable } from './document-size.js';
import { CollectionIndex, defaultIndexName } from './indexes.js';
import type { JournalOp, WriteLog } from './journal-ops.js';

export const ID_INDEX_SPEC: Document = { v: 2, key: { _id: 1 }, name: ID_INDEX_NAME };

/** Index options we keep in the spec (what listIndexes echoes back). */
const KEPT_INDEX_OPTIONS = ['unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'collation', 'hidden', 'weights', 'default_language', 'language_override', 'textIndexVersion', '2dsphereIndexVersion'];

function namespaceParts(ns: string): [string, string] {
  const dot = ns.indexOf('.');
  return [ns.slice(0, dot), ns.slice(dot + 1)];
}

function validateCollectionName(db: string, name: string): void {
  if (name === '' || name.includes('$') || name.includes('\0') || db === '' || /[/\\. "$]/.test(db)) {
    throw failure(ErrorCodes.InvalidNamespace, `Invalid namespace specified '${db}.${name}'`);
  }
}

export function normalizeIndexSpec(raw: Document): Document {
  const key = raw.key as Document | undefined;
  if (key === undefined || typeof key !== 'object' || Object.keys(key).length === 0) {
    throw failure(ErrorCodes.CannotCreateIndex, "Error in specification { } :: caused by :: The 'key' field must be a non-empty object");
  }
  const spec: Document = { v: 2, key, name: typeof raw.name === 'string' ? raw.name : defaultIndexName(key) };
  for (const option of KEPT_INDEX_OPTIONS) if (raw[option] !== undefined) spec[option] = raw[option];
  if (spec.unique === false) delete spec.unique;
  if (spec.sparse === false) delete spec.sparse;
  return spec;
}

function sameOptions(a: Document, b: Document): boolean {
  const relevant = (spec: Document): string =>
    JSON.stringify([spec.unique === true, spec.sparse === true, spec.partialFilterExpression ?? null, spec.expireAfterSeconds ?? null]);
  return relevant(a) === relevant(b);
}

export class Catalog {
  private readonly collections = new Map<string, Collection>();

  get(db: string, name: string): Collection | undefined {
    return this.collections.get(`${db}.${name}`);
  }

  idKey(doc: Document): string {
    return idKeyOf(doc);
  }

  all(): IterableIterator<Collection> {
    return this.collections.values();
  }

  databaseNames(): string[] {
    return [...new Set([...this.collections.values()].map((collection) => collection.db))].sort();
  }

  collectionsOf(db: string): Collection[] {
    return [...this.collections.values()].filter((collection) => collection.db === db);
  }

  /** Creates the collection; code 48 NamespaceExists when it exists (mongoose ignores that). */
  create(db: string, name: string, options: Document, log: WriteLog): Collection {
    validateCollectionName(db, name);
    if (this.get(db, name) !== undefined) throw failure(ErrorCodes.NamespaceExists, `Collection ${db}.${name} already exists.`);
    const collection = this.createQuietly(db, name, options);
    log.record({ op: 'createCollection', ns: collection.ns, options });
    return collection;
  }

  /** Writes to a missing collection create it implicitly, as in mongod. */
  getOrCreate(db: string, name: string, log: WriteLog): Collection {
    return this.get(db, name) ?? this.create(db, name, {}, log);
  }

  drop(db: string, name: string, log: WriteLog): boolean {
    const ns = `${db}.${name}`;
    if (!this.collections.delete(ns)) return false;
    log.record({ op: 'dropCollection', ns });
    return true;
  }

  dropDatabase(db: string, log: WriteLog): void {
    for (const collection of this.collectionsOf(db)) this.collections.delete(collection.ns);
    log.record({ op: 'dropDatabase', db });
  }

  /** Returns false when an identical index already exists (mongod answers ok with a note). */
  createIndex(collection: Collection, rawSpec: Document, log: WriteLog): boolean {
    const spec = normalizeIndexSpec(rawSpec);
    const name = String(spec.name);
    const sameKey = JSON.stringify(spec.key);
    if (name === ID_INDEX_NAME || sameKey === JSON.stringify(ID_INDEX_SPEC.key)) return false;
    for (const existing of collection.indexes.values()) {
      const existingKey = JSON.stringify(existing.spec.key);
      if (existing.name === name) {
        if (existingKey === sameKey && sameOptions(existing.spec, spec)) return false;
        throw failure(
          existingKey === sameKey ? ErrorCodes.IndexOptionsConflict : ErrorCodes.IndexKeySpecsConflict,
          `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing.spec)}`,
        );
      }
      if (existingKey === sameKey && JSON.stringify(existing.spec.partialFilterExpression) === JSON.stringify(spec.partialFilterExpression)) {
        if (sameOptions(existing.spec, spec)) return false;
        throw failure(
          ErrorCodes.IndexOptionsConflict,
          `An equivalent index already exists with a different name and options. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing.spec)}`,
        );
      }
    }
    this.buildIndex(collection, spec);
    log.record({ op: 'createIndex', ns: collection.ns, spec });
    return true;
  }

  dropIndex(collection: Collection, name: string, log: WriteLog): void {
    if (!collection.indexes.has(name)) throw failure(ErrorCodes.IndexNotFound, `index not found with name [${name}]`);
    collection.dropIndex(name);
    log.record({ op: 'dropIndex', ns: collection.ns, name });
  }

  /** `encoded`: `doc`'s BSON as received, if the caller has it (see JournalOp). */
  insert(collection: Collection, doc: Document, log: WriteLog, encoded?: Uint8Array): void {
    assertInsertable(doc, encoded);
    collection.insert(doc);
    log.record(encoded === undefined ? { op: 'insert', ns: collection.ns, doc } : { op: 'insert', ns: collection.ns, doc, encoded });
  }

  /** Stores an update's result; a no-op (the same BSON) changes and journals nothing and answers false. */
  replace(collection: Collection, previous: Document, next: Document, log: WriteLog): boolean {
    const change = changeOf(previous, next);
    if (change === 'none') return false;
    if (change === 'document') assertUpdatable(next);
    else assertPatchable(previous, next, change.set);
    collection.replace(previous, next, change === 'document' ? undefined : new Set(Object.keys(change.set)));
    log.record(change === 'document' ? { op: 'replace', ns: collection.ns, doc: next } : { op: 'patch', ns: collection.ns, id: next._id, set: change.set });
    return true;
  }

  remove(collection: Collection, doc: Document, log: WriteLog): void {
    collection.remove(doc);
    log.record({ op: 'delete', ns: collection.ns, id: doc._id });
  }

  /** Replays one journal or snapshot operation (constraints were checked when it was first applied). */
  apply(op: JournalOp): void {
    switch (op.op) {
      case 'createCollection': {
        const [db, name] = namespaceParts(op.ns);
        if (this.get(db, name) === undefined) this.createQuietly(db, name, op.options);
        return;
      }
      case 'dropCollection':
        this.collections.delete(op.ns);
        return;
      case 'dropDatabase':
        for (const collection of this.collectionsOf(op.db)) this.collections.delete(collection.ns);
        return;
      case 'createIndex':
        this.buildIndex(this.replayTarget(op.ns), op.spec);
        return;
      case 'dropIndex':
        this.replayTarget(op.ns).dropIndex(op.name);
        return;
      case 'insert':
      case 'replace': {
        const collection = this.replayTarget(op.ns);
        const previous = collection.documents.get(idKeyOf(op.doc));
        if (previous === undefined) collection.insert(op.doc);
        else collection.replace(previous, op.doc);
        return;
      }
      case 'patch': {
        const collection = this.replayTarget(op.ns);
        const previous = collection.documents.get(idKeyOf({ _id: op.id }));
        if (previous === undefined) throw new Error(`journal patch of a missing document in ${op.ns}`);
        collection.replace(previous, withValues(previous, op.set), new Set(Object.keys(op.set)));
        return;
      }
      case 'delete': {
        const collection = this.replayTarget(op.ns);
        const previous = collection.documents.get(idKeyOf({ _id: op.id }));
        if (previous !== undefined) collection.remove(previous);
        return;
      }
      case 'retryableWrite':
        return;
      default:
        // A record of a newer version: skipping it would replay a different state.
        throw new Error(`unknown journal operation ${JSON.stringify((op as { op: unknown }).op)}`);
    }
  }

  /**
   * Whether a journal record (one command's ops) patches a document, or a field of it, that is
   * not there: it was written after a write that recovery does not have.
   */
  dependsOnMissingDocument(ops: readonly JournalOp[]): boolean {
    const writtenHere = new Set<string>();
    for (const op of ops) {
      if (op.op === 'insert' || op.op === 'replace') writtenHere.add(`${op.ns}\0${idKeyOf(op.doc)}`);
      if (op.op !== 'patch') continue;
      const id = idKeyOf({ _id: op.id });
      if (writtenHere.has(`${op.ns}\0${id}`)) continue;
      const previous = this.collections.get(op.ns)?.documents.get(id);
      if (previous === undefined || Object.keys(op.set).some((field) => !Object.hasOwn(previous, field))) return true;
    }
    return false;
  }

  private replayTarget(ns: string): Collection {
    const [db, name] = namespaceParts(ns);
    return this.get(db, name) ?? this.createQuietly(db, name, {});
  }

  private createQuietly(db: string, name: string, options: Document): Collection {
    const collection = new Collection(db, name, options);
    this.collections.set(collection.ns, collection);
    return collection;
  }

  private buildIndex(collection: Collection, spec: Document): void {
    const partial = spec.partialFilterExpression as Document | undefined;
    collection.addIndex(new CollectionIndex(spec, partial === undefined ? undefined : compileFilter(partial)));
  }
}

/**
 * What an update did to a document, found in one walk: nothing (`'none'`: the two versions
 * would encode to the same BSON — mongod neither counts nor journals such no-ops); only the
 * values of existing top-level fields, field order kept, fewer than half of them (`{set}`: a
 * patch that `withValues` replays exactly); or anything else (`'document'`: journal it whole).
 * A field counts as changed when it would encode differently (updates clone what they touch, so
 * unchanged subdocuments may be new objects). A document with an `undefined` value (bson drops
 * it, so the replayed document would lack the field) or a field named `__proto__` is never
 * patched.
 */
function changeOf(previous: Document, next: Document): 'none' | 'document' | { set: Document } {
  const keys = Object.keys(previous);
  const nextKeys = Object.keys(next);
  if (keys.length !== nextKeys.length) return 'document';
  const set: Document = {};
  let changed = 0;
  let patchable = keys.length >= 4;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] as string;
    if (key !== nextKeys[index]) return 'document';
    const before: unknown = previous[key];
    const after: unknown = next[key];
    if (key === '__proto__' || before === undefined || after === undefined) patchable = false;
    if (sameBson(before, after)) continue;
    changed += 1;
    if (!patchable || changed * 2 > keys.length) return 'document';
    set[key] = after;
  }
  if (changed === 0) return 'none';
  return patchable ? { set } : 'document';
}

/** `previous` with the values of `set` in place, field order kept (replay of a patch). */
function withValues(previous: Document, set: Document): Document {
  const next: Document = {};
  for (const key of Object.keys(previous)) next[key] = Object.hasOwn(set, key) ? set[key] : previous[key];
  for (const key of Object.keys(set)) {
    if (!Object.hasOwn(previous, key)) throw new Error(`journal patch of field ${JSON.stringify(key)}, missing from the replayed document`);
  }
  return next;
}
