/** find/findAndModify projections, delegated to mingo's projection operators. */
import type { Document } from 'bson';
import { Query } from 'mingo/query';
import { ErrorCodes, failure } from '../errors.js';
import { mingoOptions } from './matcher.js';

export function projectDocuments(docs: Document[], projection: Document | undefined | null): Document[] {
  if (projection === undefined || projection === null || Object.keys(projection).length === 0) return docs;
  try {
    return new Query({}, mingoOptions).find<Document>(docs, projection).all();
  } catch (error) {
    throw failure(ErrorCodes.BadValue, error instanceof Error ? error.message : String(error));
  }
}
