/** Query filters, compiled once per command with mingo and our BSON-aware operators. */
import type { Document } from 'bson';
import { Query } from 'mingo/query';
import { ErrorCodes, failure } from '../errors.js';
import { bsonContext } from './mingo-context.js';
import type { Options } from 'mingo/types';

export type DocumentPredicate = (doc: Document) => boolean;

export const mingoOptions: Partial<Options> = { context: bsonContext, useStrictMode: true };

const matchAll: DocumentPredicate = () => true;

export function compileFilter(filter: Document | undefined | null): DocumentPredicate {
  if (filter === undefined || filter === null || Object.keys(filter).length === 0) return matchAll;
  let query: Query;
  try {
    query = new Query(filter, mingoOptions);
  } catch (error) {
    // mongod answers BadValue (2) for malformed or unknown query operators.
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
  return (doc) => query.test(doc);
}
