/** Reading values at dotted paths the way mongod's index key generator does. */
import { isPlainDocument } from '../bson/values.js';

/** Marks "no value here" (distinct from null) for sparse indexes. */
export const MISSING = Symbol('missing');
/** An empty array is indexed as `undefined` by mongod, distinct from null. */
export const EMPTY_ARRAY = Symbol('emptyArray');

export type KeyValue = unknown | typeof MISSING | typeof EMPTY_ARRAY;

/**
 * All index key values for `path` in `doc`: arrays on the way are expanded (multikey),
 * a trailing array yields its elements, a missing field yields MISSING.
 */
export function indexValuesAtPath(doc: unknown, path: readonly string[], from = 0): KeyValue[] {
  if (from === path.length) {
    if (Array.isArray(doc)) return doc.length === 0 ? [EMPTY_ARRAY] : doc;
    return [doc];
  }
  const field = path[from] as string;
  if (Array.isArray(doc)) {
    // A numeric component addresses an array element; otherwise descend into every element.
    if (/^\d+$/.test(field) && Number(field) < doc.length) return indexValuesAtPath(doc[Number(field)], path, from + 1);
    const values = doc.flatMap((element) =>
      isPlainDocument(element) ? indexValuesAtPath(element, path, from) : [],
    );
    return values.length === 0 ? [MISSING] : values;
  }
  if (!isPlainDocument(doc) || !(field in doc)) return [MISSING];
  return indexValuesAtPath(doc[field], path, from + 1);
}
