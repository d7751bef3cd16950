/**
 * Expands positional path components into concrete paths for one document:
 * `$` (the element the query matched), `$[]` (every element) and `$[id]` (elements
 * matching the arrayFilter named `id`).
 */
import type { Document } from 'bson';
import { ErrorCodes, failure } from '../errors.js';
import { compileFilter } from '../query/matcher.js';
import type { DocumentPredicate } from '../query/matcher.js';
import { readPath } from './field-paths.js';

export interface PositionalContext {
  filter: Document | undefined;
  arrayFilters: Map<string, DocumentPredicate>;
}

export function compileArrayFilters(arrayFilters: unknown): Map<string, DocumentPredicate> {
  const compiled = new Map<string, DocumentPredicate>();
  if (!Array.isArray(arrayFilters)) return compiled;
  for (const filter of arrayFilters as Document[]) {
    const identifier = Object.keys(filter)[0]?.split('.')[0];
    if (identifier === undefined) {
      throw failure(ErrorCodes.FailedToParse, 'Cannot use an expression without a top-level field name in arrayFilters');
    }
    compiled.set(identifier, compileFilter(filter));
  }
  return compiled;
}

export function hasPositional(path: string): boolean {
  return path.includes('$');
}

function nestUnder(parts: string[], value: unknown): Document {
  let result: unknown = value;
  for (let i = parts.length - 1; i >= 0; i--) result = { [parts[i] as string]: result };
  return result as Document;
}

/** Index of the first element of the array at `arrayParts` that satisfies the query's conditions on it. */
function firstMatchedIndex(doc: Document, arrayParts: string[], filter: Document | undefined): number {
  const arrayPath = arrayParts.join('.');
  const conditions: Document = {};
  for (const [key, condition] of Object.entries(filter ?? {})) {
    if (key === arrayPath || key.startsWith(`${arrayPath}.`)) conditions[key] = condition;
  }
  const array = readPath(doc, arrayParts);
  if (Object.keys(conditions).length > 0 && Array.isArray(array)) {
    const predicate = compileFilter(conditions);
    const index = array.findIndex((element) => predicate(nestUnder(arrayParts, [element])));
    if (index >= 0) return index;
  }
  throw failure(ErrorCodes.BadValue, 'The positional operator did not find the match needed from the query.');
}

export function expandPositional(doc: Document, parts: string[], context: PositionalContext): string[][] {
  const results: string[][] = [];
  const visit = (prefix: string[], from: number): void => {
    if (from === parts.length) {
      results.push(prefix);
      return;
    }
    const part = parts[from] as string;
    if (part === '$') {
      visit([...prefix, String(firstMatchedIndex(doc, prefix, context.filter))], from + 1);
      return;
    }
    const all = part === '$[]';
    const identifier = /^\$\[(\w+)\]$/.exec(part)?.[1];
    if (!all && identifier === undefined) {
      visit([...prefix, part], from + 1);
      return;
    }
    const array = readPath(doc, prefix);
    if (!Array.isArray(array)) {
      throw failure(ErrorCodes.BadValue, `The path '${prefix.join('.')}' must exist in the document in order to apply array updates.`);
    }
    const predicate = identifier === undefined ? undefined : context.arrayFilters.get(identifier);
    if (identifier !== undefined && predicate === undefined) {
      throw failure(ErrorCodes.BadValue, `No array filter found for identifier '${identifier}' in path '${parts.join('.')}'`);
    }
    array.forEach((element, index) => {
      if (predicate === undefined || predicate({ [identifier as string]: element })) visit([...prefix, String(index)], from + 1);
    });
  };
  visit([], 0);
  return results;
}
