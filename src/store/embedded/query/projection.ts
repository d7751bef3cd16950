/**
 * find/findAndModify projections, delegated to mingo's projection operators — except for
 * `$slice`, which mingo treats as an inclusion while mongod (≥ 4.4) keeps every other field
 * when a projection holds only `$slice` and exclusions; and except for the common case of
 * top-level fields all included or all excluded (what mongoose's `select` and the hub send), of
 * exclusions only and of inclusions only (dotted or not), done here without compiling a mingo
 * query and cloning every document per command.
 */
import type { Document } from 'bson';
import { Query } from 'mingo/query';
import { cloneValue } from '../bson/clone.js';
import { isPlainDocument, moveIdFirst } from '../bson/values.js';
import { ErrorCodes, failure } from '../errors.js';
import { queryOptions } from './matcher.js';

function isSlice(value: unknown): value is { $slice: number | [number, number] } {
  return isPlainDocument(value) && Object.keys(value).length === 1 && '$slice' in value;
}

function isInclusion(field: string, value: unknown): boolean {
  if (isSlice(value)) return false;
  if (isPlainDocument(value)) return true;
  return field !== '_id' && value !== 0 && value !== false;
}

function sliceArray(values: unknown[], spec: number | [number, number]): unknown[] {
  if (Array.isArray(spec)) {
    const [skip, count] = spec;
    const start = skip < 0 ? Math.max(0, values.length + skip) : skip;
    return values.slice(start, start + count);
  }
  return spec >= 0 ? values.slice(0, spec) : values.slice(spec);
}

function applySlice(doc: Document, path: string, spec: number | [number, number]): void {
  const parts = path.split('.');
  let container: unknown = doc;
  for (const part of parts.slice(0, -1)) {
    container = isPlainDocument(container) ? container[part] : undefined;
  }
  const last = parts[parts.length - 1] as string;
  if (isPlainDocument(container) && Array.isArray(container[last])) {
    container[last] = sliceArray(container[last] as unknown[], spec);
  }
}

/**
 * mingo projects in place: an exclusion of a dotted path deletes the field from the nested
 * object it was given — here the stored document itself. So it gets copies.
 */
function runMingo(docs: Document[], projection: Document): Document[] {
  try {
    return new Query({}, queryOptions).find<Document>(docs.map((doc) => cloneValue(doc)), projection).all();
  } catch (error) {
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
}

const isFlag = (value: unknown): value is 0 | 1 | boolean => value === 0 || value === 1 || value === true || value === false;

/**
 * `{a: 1, b: 1}` or `{a: 0, b: 0}` on top-level fields, `_id` either way: the documents' own field
 * order is kept, `_id` first, as mongod answers. Anything else (dotted paths, operators, other
 * values, inclusions mixed with exclusions — an error mingo reports) answers undefined.
 */
function topLevelProjection(projection: Document): ((doc: Document) => Document) | undefined {
  let keepId = true;
  let including: boolean | undefined;
  const fields = new Set<string>();
  for (const [field, value] of Object.entries(projection)) {
    if (!isFlag(value) || field === '' || field.includes('.') || field.startsWith('$')) return undefined;
    const include = value === 1 || value === true;
    if (field === '_id') {
      keepId = include;
      continue;
    }
    if (including !== undefined && including !== include) return undefined;
    including = include;
    fields.add(field);
  }
  // Only `_id` named: {_id: 1} keeps just the id, {_id: 0} everything else.
  const inclusion = including ?? (keepId && fields.size === 0 && projection._id !== undefined);
  return (doc) => {
    const projected: Document = {};
    if (keepId && '_id' in doc) projected._id = doc._id;
    for (const [field, value] of Object.entries(doc)) {
      if (field === '_id' || fields.has(field) !== inclusion) continue;
      projected[field] = value;
    }
    return projected;
  };
}

/** `value` without the field at `path`: containers on the way are copied, never changed; arrays of documents lose it in each element, as mongod does. */
function without(value: unknown, path: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((element) => without(element, path));
  if (!isPlainDocument(value)) return value;
  const [field, ...rest] = path as [string, ...string[]];
  if (!(field in value)) return value;
  const copy: Document = { ...value };
  if (rest.length === 0) delete copy[field];
  else copy[field] = without(value[field], rest);
  return copy;
}

/**
 * Exclusions only, some of them dotted (`{secretHash: 0, 'schedule.payload': 0}`): the document
 * with those fields left out, its field order kept, and nothing of the stored document changed.
 * Anything else answers undefined.
 */
function exclusionProjection(projection: Document): ((doc: Document) => Document) | undefined {
  const paths: string[][] = [];
  for (const [field, value] of Object.entries(projection)) {
    const parts = field.split('.');
    if (!(value === 0 || value === false) || parts.some((part) => part === '' || part.startsWith('$'))) return undefined;
    paths.push(parts);
  }
  return (doc) => paths.reduce<Document>((projected, path) => without(projected, path) as Document, doc);
}

/** Included paths as a tree: `{a: 1, 'b.c': 1}` is a → true, b → (c → true). */
type PathTree = Map<string, PathTree | true>;

/** Adds `parts` to `tree`; false when it collides with a path already there (mingo reports it as mongod does). */
function addPath(tree: PathTree, parts: readonly string[]): boolean {
  let node = tree;
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index] as string;
    const existing = node.get(part);
    if (existing === true) return false;
    if (index === parts.length - 1) {
      if (existing !== undefined) return false;
      node.set(part, true);
      return true;
    }
    if (existing === undefined) {
      const child: PathTree = new Map();
      node.set(part, child);
      node = child;
    } else node = existing;
  }
  return true;
}

/**
 * The fields of `doc` that `tree` names, in the document's order; a subdocument on a dotted path
 * keeps only what the tree names below it (an empty one stays, as in mongod), any other value there
 * is left out. Undefined when an array lies on a dotted path: how its elements are projected is
 * mingo's business.
 */
function pick(doc: Document, tree: PathTree, top: boolean, keepId: boolean): Document | undefined {
  const projected: Document = {};
  if (top && keepId && '_id' in doc) projected._id = doc._id;
  for (const [field, value] of Object.entries(doc)) {
    if (top && field === '_id') continue;
    const node = tree.get(field);
    if (node === undefined) continue;
    if (node === true) {
      projected[field] = value;
      continue;
    }
    if (Array.isArray(value)) return undefined;
    if (!isPlainDocument(value)) continue;
    const below = pick(value, node, false, keepId);
    if (below === undefined) return undefined;
    projected[field] = below;
  }
  return projected;
}

/**
 * Inclusions only, some of them dotted (`{organisationId: 1, 'status.lastSeenAt': 1}`, the hub's
 * device directory): through mingo, each such find cloned every document it returned. The
 * documents with an array on a dotted path go through mingo together, `_id` first as mongod
 * answers (mingo puts it last). Anything else answers undefined.
 */
function inclusionProjection(projection: Document): ((docs: Document[]) => Document[]) | undefined {
  let keepId = true;
  const tree: PathTree = new Map();
  for (const [field, value] of Object.entries(projection)) {
    if (!isFlag(value)) return undefined;
    const include = value === 1 || value === true;
    if (field === '_id') {
      keepId = include;
      continue;
    }
    const parts = field.split('.');
    if (!include || parts[0] === '_id' || parts.some((part) => part === '' || part.startsWith('$')) || !addPath(tree, parts)) return undefined;
  }
  if (tree.size === 0) return undefined;
  return (docs) => {
    const projected = docs.map((doc) => pick(doc, tree, true, keepId));
    const viaMingo = docs.filter((_doc, index) => projected[index] === undefined);
    if (viaMingo.length === 0) return projected as Document[];
    const fromMingo = runMingo(viaMingo, projection).map(moveIdFirst);
    let next = 0;
    return projected.map((doc) => doc ?? (fromMingo[next++] as Document));
  };
}

export function projectDocuments(docs: Document[], projection: Document | undefined | null): Document[] {
  if (projection === undefined || projection === null || Object.keys(projection).length === 0) return docs;
  const simple = topLevelProjection(projection) ?? exclusionProjection(projection);
  if (simple !== undefined) return docs.map(simple);
  const included = inclusionProjection(projection);
  if (included !== undefined) return included(docs);
  const entries = Object.entries(projection);
  const slices = entries.filter(([, value]) => isSlice(value)) as Array<[string, { $slice: number | [number, number] }]>;
  if (slices.length === 0 || entries.some(([field, value]) => isInclusion(field, value))) return runMingo(docs, projection);
  const exclusions = Object.fromEntries(entries.filter(([, value]) => !isSlice(value)));
  const base = Object.keys(exclusions).length > 0 ? runMingo(docs, exclusions) : docs;
  return base.map((doc) => {
    const copy = cloneValue(doc);
    for (const [path, { $slice }] of slices) applySlice(copy, path, $slice);
    return copy;
  });
}
