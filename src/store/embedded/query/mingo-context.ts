/**
 * A mingo Context whose comparison operators follow BSON semantics. mingo compares with JS
 * rules: NumberLong/NumberDecimal never equal plain numbers and mixed types sort in JS order.
 * Our versions of $eq/$ne/$gt/$gte/$lt/$lte/$in/$nin/$type (query) and $sort (pipeline)
 * use compareValues; every other operator is mingo's own.
 */
import type { Document } from 'bson';
import { Context } from 'mingo/core';
import type { Options } from 'mingo/types';
import { Lazy } from 'mingo/lazy';
import type { Iterator } from 'mingo/lazy';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { resolve } from 'mingo/util';
import { canonicalKey } from '../bson/canonical-key.js';
import { compareValues, valuesEqual } from '../bson/compare.js';
import { TypeRank, bsonTypeAlias, isNumeric, typeRank } from '../bson/values.js';
import { sortDocuments } from './sort.js';

type FieldTest = (value: unknown, operand: unknown, depth: number) => boolean;
type QueryOperator = (selector: string, operand: unknown, options: Options) => (doc: unknown) => boolean;

function fieldOperator(test: FieldTest): QueryOperator {
  return (selector, operand) => {
    let depth = 0;
    for (const char of selector) if (char === '.') depth++;
    return (doc) => test(resolve(doc as Document, selector, { unwrapArray: true }), operand, depth);
  };
}

function flatten(values: unknown[], depth: number): unknown[] {
  const out: unknown[] = [];
  const visit = (items: unknown[], level: number): void => {
    for (const item of items) {
      if (Array.isArray(item) && level > 0) visit(item, level - 1);
      else out.push(item);
    }
  };
  visit(values, depth);
  return out;
}

/** The values a predicate is applied to: the field itself and, for arrays, its elements. */
function candidates(value: unknown, depth: number): unknown[] {
  if (!Array.isArray(value)) return [value];
  return [value, ...flatten(value, depth)];
}

function isNullish(value: unknown): boolean {
  return value === null || value === undefined;
}

const equals: FieldTest = (value, operand, depth) => {
  if (isNullish(operand)) {
    // {f: null} matches null and missing, also inside arrays.
    return candidates(value, depth).some(isNullish);
  }
  return candidates(value, depth).some((candidate) => valuesEqual(candidate, operand));
};

function rangeTest(accept: (diff: number) => boolean): FieldTest {
  return (value, operand, depth) => {
    const operandRank = typeRank(operand);
    const crossType = operandRank === TypeRank.MinKey || operandRank === TypeRank.MaxKey;
    return candidates(value, depth).some((candidate) => {
      const comparable = isNullish(candidate) ? null : candidate;
      // Type bracketing: $gt: 5 never matches a string; only MinKey/MaxKey compare across types.
      if (!crossType && typeRank(comparable) !== operandRank) return false;
      return accept(compareValues(comparable, operand));
    });
  };
}

const inList: FieldTest = (value, operand, depth) => {
  if (!Array.isArray(operand)) return false;
  return operand.some((item) => {
    if (item instanceof RegExp) {
      return candidates(value, depth).some((candidate) => typeof candidate === 'string' && item.test(candidate));
    }
    return equals(value, item, depth);
  });
};

/** Lists longer than this are hashed once per query instead of scanned for every document. */
const HASHED_IN_THRESHOLD = 8;

/**
 * `$in` with a long list (a sweep asking for the care teams of a few hundred patients): the
 * list's canonical keys in a Set, so each document costs one lookup per candidate value, not
 * one comparison per listed value. canonicalKey equality is the query's equality — the index
 * lookups already rely on it — with null standing for null and missing alike.
 */
function hashedInList(operand: unknown[]): (value: unknown, depth: number) => boolean {
  const patterns = operand.filter((item): item is RegExp => item instanceof RegExp);
  const matchesNull = operand.some(isNullish);
  const keys = new Set(operand.filter((item) => !(item instanceof RegExp) && !isNullish(item)).map(canonicalKey));
  return (value, depth) =>
    candidates(value, depth).some((candidate) => {
      if (isNullish(candidate)) return matchesNull;
      if (keys.has(canonicalKey(candidate))) return true;
      return typeof candidate === 'string' && patterns.some((pattern) => pattern.test(candidate));
    });
}

/** $in / $nin: a short list scanned, a long one hashed (built once, when the query is compiled). */
function inOperator(negate: boolean): QueryOperator {
  return (selector, operand, options) => {
    if (!Array.isArray(operand) || operand.length <= HASHED_IN_THRESHOLD) {
      return fieldOperator((value, list, depth) => inList(value, list, depth) !== negate)(selector, operand, options);
    }
    const test = hashedInList(operand);
    let depth = 0;
    for (const char of selector) if (char === '.') depth++;
    return (doc) => test(resolve(doc as Document, selector, { unwrapArray: true }), depth) !== negate;
  };
}

const TYPE_CODES: Record<number, string> = {
  1: 'double', 2: 'string', 3: 'object', 4: 'array', 5: 'binData', 6: 'undefined', 7: 'objectId',
  8: 'bool', 9: 'date', 10: 'null', 11: 'regex', 13: 'javascript', 14: 'symbol', 16: 'int',
  17: 'timestamp', 18: 'long', 19: 'decimal', [-1]: 'minKey', 127: 'maxKey',
};

function matchesType(value: unknown, type: unknown): boolean {
  const alias = typeof type === 'number' ? TYPE_CODES[type] : String(type);
  if (alias === 'number') return isNumeric(value);
  return bsonTypeAlias(value) === alias;
}

const hasType: FieldTest = (value, operand) => {
  if (value === undefined) return false;
  const types = Array.isArray(operand) ? operand : [operand];
  const values = Array.isArray(value) ? [value, ...value] : [value];
  return values.some((candidate) => types.some((type) => matchesType(candidate, type)));
};

const bsonQueryOperators: Record<string, QueryOperator> = {
  $eq: fieldOperator(equals),
  $ne: fieldOperator((value, operand, depth) => !equals(value, operand, depth)),
  $gt: fieldOperator(rangeTest((diff) => diff > 0)),
  $gte: fieldOperator(rangeTest((diff) => diff >= 0)),
  $lt: fieldOperator(rangeTest((diff) => diff < 0)),
  $lte: fieldOperator(rangeTest((diff) => diff <= 0)),
  $in: inOperator(false),
  $nin: inOperator(true),
  $type: fieldOperator(hasType),
};

function bsonSortStage(collection: Iterator, spec: unknown): Iterator {
  return collection.transform((docs: unknown[]) => Lazy(sortDocuments(docs as Document[], spec as Document)));
}

const bsonPipelineOperators = { $sort: bsonSortStage };

/**
 * Context.init ignores re-registration of a name, so our operators are registered first
 * and mingo's fill in the rest.
 */
export const bsonContext = Context.init({
  query: bsonQueryOperators as never,
  pipeline: bsonPipelineOperators as never,
})
  .addQueryOps(queryOperators as never)
  .addPipelineOps(pipelineOperators as never)
  .addExpressionOps(expressionOperators as never)
  .addAccumulatorOps(accumulatorOperators as never)
  .addProjectionOps(projectionOperators as never)
  .addWindowOps(windowOperators as never);
