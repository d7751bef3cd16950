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
  let query: Query;
  try {
    query = new Query(filter, queryOptions);
  } catch (error) {
    // mongod answers BadValue (2) for malformed or unknown query operators.
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
  return (doc) => query.test(doc);
}
