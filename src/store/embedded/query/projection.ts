/**
 * find/findAndModify projections, delegated to mingo's projection operators — except for
 * `$slice`, which mingo treats as an inclusion while mongod (≥ 4.4) keeps every other field
 * when a projection holds only `$slice` and exclusions.
 */
import type { Document } from 'bson';
import { Query } from 'mingo/query';
import { cloneValue } from '../bson/clone.js';
import { isPlainDocument } from '../bson/values.js';
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

function runMingo(docs: Document[], projection: Document): Document[] {
  try {
    return new Query({}, queryOptions).find<Document>(docs, projection).all();
  } catch (error) {
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
}

export function projectDocuments(docs: Document[], projection: Document | undefined | null): Document[] {
  if (projection === undefined || projection === null || Object.keys(projection).length === 0) return docs;
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
