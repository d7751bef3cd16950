/**
 * explain for find, count, distinct, delete, update, findAndModify and aggregate (leading
 * $match): reports whether an index or `_id` lookup serves the query, in mongod's
 * `queryPlanner.winningPlan` shape, so tests can check index use against both servers.
 */
import type { Document } from 'bson';
import { ErrorCodes, failure } from '../errors.js';
import { choosePlan, explainPlan } from '../query/planner.js';
import type { CommandHandler } from './context.js';
import { optionalDocument } from './context.js';
import { SERVER_VERSION } from './handshake.js';

function filterOf(command: Document): Document | undefined {
  const name = Object.keys(command)[0];
  switch (name) {
    case 'find':
      return optionalDocument(command.filter, 'filter');
    case 'count':
    case 'distinct':
    case 'findAndModify':
    case 'findandmodify':
      return optionalDocument(command.query, 'query');
    case 'delete':
      return ((command.deletes as Document[] | undefined)?.[0]?.q as Document | undefined) ?? {};
    case 'update':
      return ((command.updates as Document[] | undefined)?.[0]?.q as Document | undefined) ?? {};
    case 'aggregate': {
      const first = (command.pipeline as Document[] | undefined)?.[0];
      return first !== undefined && '$match' in first ? (first.$match as Document) : undefined;
    }
    default:
      throw failure(ErrorCodes.CommandNotSupported, `explain is not supported for ${String(name)}`);
  }
}

const explain: CommandHandler = (ctx) => {
  const inner = optionalDocument(ctx.command.explain, 'explain');
  if (inner === undefined) throw failure(ErrorCodes.FailedToParse, 'explain command requires a nested object');
  const collectionName = String(Object.values(inner)[0]);
  const collection = ctx.engine.catalog.get(ctx.db, collectionName);
  const filter = filterOf(inner) ?? {};
  const winningPlan = collection === undefined ? { stage: 'EOF' } : explainPlan(choosePlan(collection, filter));
  return {
    queryPlanner: {
      namespace: `${ctx.db}.${collectionName}`,
      parsedQuery: filter,
      winningPlan,
      rejectedPlans: [],
    },
    serverInfo: { host: ctx.engine.settings.advertisedHost, version: SERVER_VERSION },
    ok: 1,
  };
};

export const explainCommands: Record<string, CommandHandler> = { explain };
