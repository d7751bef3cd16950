/** Finding the documents a command operates on: index/scan candidates, filter, sort, skip, limit. */
import type { Document } from 'bson';
import type { Collection } from '../engine/collection.js';
import { compileFilter } from './matcher.js';
import { choosePlan, planDocuments } from './planner.js';
import { sortDocuments } from './sort.js';

export interface SelectOptions {
  sort?: Document | undefined;
  skip?: number | undefined;
  /** 0 or undefined: no limit. */
  limit?: number | undefined;
}

export function selectDocuments(collection: Collection | undefined, filter: Document | undefined, options: SelectOptions = {}): Document[] {
  if (collection === undefined) return [];
  const plan = choosePlan(collection, filter);
  // An exact index answer needs no filter evaluation (the hot path of indexed findOne).
  const predicate = plan.stage !== 'COLLSCAN' && plan.exact ? () => true : compileFilter(filter);
  const skip = Math.max(0, options.skip ?? 0);
  const limit = options.limit !== undefined && options.limit !== 0 ? Math.abs(options.limit) : Number.POSITIVE_INFINITY;
  // {$natural: ±1} is storage (insertion) order, which is the candidates' order.
  const natural = options.sort !== undefined && Object.keys(options.sort).length === 1 && '$natural' in options.sort;
  const sorted = !natural && options.sort !== undefined && Object.keys(options.sort).length > 0;
  const matches: Document[] = [];
  // Without a sort we can stop as soon as skip + limit documents matched.
  const reversed = natural && Number((options.sort as Document).$natural) === -1;
  const enough = sorted || reversed ? Number.POSITIVE_INFINITY : skip + limit;
  for (const doc of planDocuments(collection, plan)) {
    if (!predicate(doc)) continue;
    matches.push(doc);
    if (matches.length >= enough) break;
  }
  if (reversed) matches.reverse();
  const ordered = sorted ? sortDocuments(matches, options.sort as Document) : matches;
  return skip === 0 && ordered.length <= limit ? ordered : ordered.slice(skip, skip + limit);
}
