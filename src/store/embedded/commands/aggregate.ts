/**
 * aggregate through mingo, with our BSON-aware $match/$sort. A leading $match is answered
 * with the planner (index lookups) before the rest of the pipeline runs; `$lookup` resolves
 * collections of the same database.
 */
import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { cloneValue } from '../bson/clone.js';
import { ErrorCodes, failure } from '../errors.js';
import { mingoOptions } from '../query/matcher.js';
import { selectDocuments } from '../query/select.js';
import type { CommandContext, CommandHandler } from './context.js';
import { cursorReply, optionalDocument, optionalNumber } from './context.js';

/**
 * Stages that never modify their input documents, so stored documents can be passed by reference
 * when every stage is one of them. Not `$project`: mingo's exclusions copy a document shallowly
 * and delete from the nested objects it shares with the stored one. `$group` only reads, but its
 * output holds stored objects (`$push: '$$ROOT'`): any later stage not listed here makes the
 * whole input a copy.
 */
const READ_ONLY_STAGES = new Set(['$match', '$group', '$sort', '$limit', '$skip', '$count', '$sortByCount']);
const UNSUPPORTED_STAGES = new Set(['$out', '$merge', '$changeStream', '$search', '$searchMeta', '$geoNear', '$vectorSearch', '$collStats', '$indexStats', '$currentOp', '$listSessions']);

function stageName(stage: Document): string {
  return Object.keys(stage)[0] ?? '';
}

function sourceDocuments(ctx: CommandContext, pipeline: Document[]): { docs: Document[]; rest: Document[] } {
  const target = ctx.command.aggregate;
  if (target === 1) {
    // Database-level aggregate (e.g. $documents); only stages that generate input apply.
    return { docs: [], rest: pipeline };
  }
  const collection = ctx.engine.catalog.get(ctx.db, String(target));
  const [first, ...rest] = pipeline;
  if (first !== undefined && stageName(first) === '$match') {
    return { docs: selectDocuments(collection, first.$match as Document), rest };
  }
  return { docs: selectDocuments(collection, undefined), rest: pipeline };
}

const aggregate: CommandHandler = (ctx) => {
  const pipeline = ctx.command.pipeline;
  if (!Array.isArray(pipeline)) throw failure(ErrorCodes.TypeMismatch, "'pipeline' option must be specified as an array");
  const cursor = optionalDocument(ctx.command.cursor, 'cursor');
  if (cursor === undefined && ctx.command.explain !== true) {
    throw failure(ErrorCodes.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument");
  }
  for (const stage of pipeline as Document[]) {
    const name = stageName(stage);
    if (UNSUPPORTED_STAGES.has(name)) {
      throw failure(ErrorCodes.CommandNotSupported, `${name} is not supported by the embedded store`);
    }
  }
  const { docs, rest } = sourceDocuments(ctx, pipeline as Document[]);
  const mutates = rest.some((stage) => !READ_ONLY_STAGES.has(stageName(stage)));
  const input = mutates ? docs.map((doc) => cloneValue(doc)) : docs;
  const collectionResolver = (name: string): Document[] =>
    selectDocuments(ctx.engine.catalog.get(ctx.db, name), undefined).map((doc) => cloneValue(doc));
  let results: Document[];
  try {
    results = rest.length === 0 ? input : (new Aggregator(rest, { ...mingoOptions, collectionResolver }).run(input) as Document[]);
  } catch (error) {
    if (error instanceof Error && error.constructor.name === 'MingoError') throw failure(ErrorCodes.BadValue, error.message);
    throw error;
  }
  const ns = ctx.command.aggregate === 1 ? `${ctx.db}.$cmd.aggregate` : `${ctx.db}.${String(ctx.command.aggregate)}`;
  return cursorReply(ctx, ns, results, optionalNumber(cursor?.batchSize));
};

export const aggregateCommands: Record<string, CommandHandler> = { aggregate };
