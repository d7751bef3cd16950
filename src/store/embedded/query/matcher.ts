/** Query filters, compiled once per command with mingo and our BSON-aware operators. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Document } from 'bson';
import { Query } from 'mingo/query';
import { ErrorCodes, failure } from '../errors.js';
import { bsonContext } from './mingo-context.js';
import type { Options } from 'mingo/types';

export type DocumentPredicate = (doc: Document) => boolean;

export const mingoOptions: Partial<Options> = { context: bsonContext, useStrictMode: true };

/**
 * The same options, prepared once for `new Query`. Handed plain options, mingo copies every
 * operator table of the context for each Query it builds — the largest single cost of a
 * point lookup or update here. Handed its own ComputeOptions it only copies the locals. That
 * class is internal to mingo (not in its exports), so it is reached by file; should the
 * layout change, the plain options still work, only slower.
 */
export const queryOptions: Partial<Options> = prepareOnce(mingoOptions);

function prepareOnce(options: Partial<Options>): Partial<Options> {
  try {
    const require = createRequire(import.meta.url);
    const internal = require(join(dirname(require.resolve('mingo')), 'core', '_internal.js')) as { ComputeOptions?: { init(o: Partial<Options>): Partial<Options> } };
    return internal.ComputeOptions?.init(options) ?? options;
  } catch {
    return options;
  }
}

const matchAll: DocumentPredicate = () => true;

export function compileFilter(filter: Document | undefined | null): DocumentPredicate {
  if (filter === undefined || filter === null || Object.keys(filter).length === 0) return matchAll;
  const plain = plainEqualities(filter);
  if (plain !== undefined) return plain;
  let query: Query;
  try {
    query = new Query(filter, queryOptions);
  } catch (error) {
    // mongod answers BadValue (2) for malformed or unknown query operators.
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
  return (doc) => query.test(doc);
}

/**
 * `{a: true, b: 'x'}` — top-level fields, each equal to a boolean or a string — tested without
 * mingo: such filters are the partial filters of indexes (`{processed: false}`, `{open: true}`),
 * tested on every insert into their collection and twice per update of an indexed document.
 * Booleans and strings compare by identity in BSON and JS alike; a field holding an array
 * matches when an element does, as in mongod. Anything else goes through mingo.
 */
function plainEqualities(filter: Document): DocumentPredicate | undefined {
  const pairs = Object.entries(filter);
  const simple = pairs.every(([field, value]) => !field.startsWith('$') && !field.includes('.') && (typeof value === 'boolean' || typeof value === 'string'));
  if (!simple) return undefined;
  return (doc) =>
    pairs.every(([field, value]) => {
      const held: unknown = doc[field];
      return held === value || (Array.isArray(held) && held.includes(value));
    });
}
