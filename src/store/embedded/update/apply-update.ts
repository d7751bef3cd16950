/**
 * Applies an update (operator document, replacement document or pipeline) to a copy of a
 * stored document and returns the new version, enforcing mongod's rules: conflicting paths
 * (40), immutable `_id` (66), unknown modifiers (9).
 */
import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { ObjectId } from 'bson';
import { cloneValue } from '../bson/clone.js';
import { formatDocument, formatValue } from '../bson/format.js';
import { bsonTypeAlias, moveIdFirst } from '../bson/values.js';
import { valuesEqual } from '../bson/compare.js';
import { ErrorCodes, failure } from '../errors.js';
import { mingoOptions } from '../query/matcher.js';
import { locate, readSlot, removeAt, assign } from './field-paths.js';
import { fieldOperators } from './operators.js';
import type { OperatorContext } from './operators.js';
import { compileArrayFilters, expandPositional, hasPositional } from './positional.js';

export type UpdateSpec = Document | Document[];

export interface UpdateOptions {
  /** The query, for the positional `$` operator. */
  filter?: Document;
  arrayFilters?: unknown;
  /** True when building an upserted document: $setOnInsert applies and `_id` may be set. */
  isInsert: boolean;
}

interface PlannedChange {
  operator: string;
  path: string;
  operand: unknown;
}

export function isOperatorUpdate(update: UpdateSpec): update is Document {
  if (Array.isArray(update)) return false;
  const first = Object.keys(update)[0];
  return first !== undefined && first.startsWith('$');
}

/** Numeric path components order numerically, others lexicographically (mongod ≥ 5.0). */
function comparePaths(a: string, b: string): number {
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i] as string;
    const y = right[i] as string;
    if (x === y) continue;
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

function planChanges(update: Document): PlannedChange[] {
  const changes: PlannedChange[] = [];
  for (const [operator, fields] of Object.entries(update)) {
    if (operator !== '$rename' && !(operator in fieldOperators)) {
      throw failure(
        ErrorCodes.FailedToParse,
        `Unknown modifier: ${operator}. Expected a valid update modifier or pipeline-style update specified as an array`,
      );
    }
    if (fields === null || typeof fields !== 'object') {
      throw failure(ErrorCodes.FailedToParse, `Modifiers operate on fields but we found type ${typeof fields} instead.`);
    }
    for (const [path, operand] of Object.entries(fields as Document)) {
      if (path === '') throw failure(ErrorCodes.EmptyFieldName, 'An empty update path is not valid.');
      checkOperand(operator, path, operand);
      changes.push({ operator, path, operand });
    }
  }
  checkConflicts(changes);
  return changes.sort((a, b) => comparePaths(a.path, b.path));
}

/** The operand checks mongod makes while parsing, before it looks for conflicting paths. */
function checkOperand(operator: string, path: string, operand: unknown): void {
  if (operator === '$rename') checkRenameTarget(path, operand);
  else if (operator === '$currentDate') checkCurrentDateOperand(operand);
}

function checkRenameTarget(from: string, to: unknown): void {
  const spec = `${from}: ${formatValue(to)}`;
  if (typeof to !== 'string' || to === '') throw failure(ErrorCodes.BadValue, `The 'to' field for $rename must be a string: ${spec}`);
  if (to === from) throw failure(ErrorCodes.BadValue, `The source and target field for $rename must differ: ${spec}`);
  if (to.startsWith(`${from}.`) || from.startsWith(`${to}.`)) {
    throw failure(ErrorCodes.BadValue, `The source and target field for $rename must not be on the same path: ${spec}`);
  }
}

function checkCurrentDateOperand(operand: unknown): void {
  if (typeof operand === 'boolean') return;
  if (operand === null || typeof operand !== 'object' || Array.isArray(operand)) {
    throw failure(ErrorCodes.BadValue, `${bsonTypeAlias(operand)} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).`);
  }
  for (const [key, value] of Object.entries(operand as Document)) {
    if (key !== '$type') throw failure(ErrorCodes.BadValue, `Unrecognized $currentDate option: ${key}`);
    if (value !== 'date' && value !== 'timestamp') {
      throw failure(ErrorCodes.BadValue, "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}");
    }
  }
}

/**
 * What mongod checks before it touches a document, so that an update matching nothing is
 * refused as well: unknown modifiers, bad operands, conflicting paths, and array filters whose
 * identifier no path uses (FailedToParse).
 */
export function validateOperatorUpdate(update: Document, arrayFilters: unknown): void {
  const changes = planChanges(update);
  const used = new Set(changes.flatMap((change) => [...change.path.matchAll(/\$\[(\w+)\]/g)].map((match) => match[1])));
  for (const identifier of compileArrayFilters(arrayFilters).keys()) {
    if (!used.has(identifier)) {
      throw failure(ErrorCodes.FailedToParse, `The array filter for identifier '${identifier}' was not used in the update ${formatDocument(update)}`);
    }
  }
}

function checkConflicts(changes: PlannedChange[]): void {
  const paths: string[] = [];
  for (const change of changes) {
    paths.push(change.path);
    if (change.operator === '$rename') paths.push(String(change.operand));
  }
  for (let i = 0; i < paths.length; i++) {
    for (let j = 0; j < paths.length; j++) {
      if (i === j) continue;
      const a = paths[i] as string;
      const b = paths[j] as string;
      if (a === b || b.startsWith(`${a}.`)) {
        throw failure(ErrorCodes.ConflictingUpdateOperators, `Updating the path '${b}' would create a conflict at '${a}'`);
      }
    }
  }
}

function applyRename(doc: Document, from: string, to: string): void {
  const source = locate(doc, from.split('.'), false);
  if (source === undefined || Array.isArray(source.container)) return;
  const value = readSlot(source);
  if (value === undefined) return;
  removeAt(source);
  const target = locate(doc, to.split('.'), true);
  if (target !== undefined) {
    removeAt(target);
    assign(target.container, target.field, value);
  }
}

function applyOperators(original: Document, update: Document, options: UpdateOptions): Document {
  const changes = planChanges(update);
  const doc = copyTouched(original, changes);
  const ctx: OperatorContext = { doc, isInsert: options.isInsert, now: new Date() };
  const positional = { filter: options.filter, arrayFilters: compileArrayFilters(options.arrayFilters) };
  for (const change of changes) {
    if (change.operator === '$rename') {
      applyRename(doc, change.path, change.operand as string);
      continue;
    }
    const apply = fieldOperators[change.operator];
    if (apply === undefined) continue;
    const parts = change.path.split('.');
    const targets = hasPositional(change.path) ? expandPositional(doc, parts, positional) : [parts];
    for (const target of targets) apply(ctx, target, change.operand);
  }
  return doc;
}

/**
 * The copy the operators work on: the top-level fields the changes touch are cloned, every other
 * one is shared with the stored version (stored documents are never mutated, see clone.ts). A
 * status update of a device used to clone the whole device — its schedule included — for one
 * date (runs AR in docs/benchmarks/ingest.md).
 */
function copyTouched(original: Document, changes: PlannedChange[]): Document {
  const touched = new Set<string>();
  for (const { operator, path, operand } of changes) {
    touched.add(topLevelField(path));
    if (operator === '$rename') touched.add(topLevelField(operand as string));
  }
  const doc: Document = {};
  for (const key of Object.keys(original)) doc[key] = touched.has(key) ? cloneValue(original[key]) : original[key];
  return doc;
}

function topLevelField(path: string): string {
  const dot = path.indexOf('.');
  return dot < 0 ? path : path.slice(0, dot);
}

function applyReplacement(original: Document, replacement: Document): Document {
  for (const key of Object.keys(replacement)) {
    if (key.startsWith('$')) {
      throw failure(ErrorCodes.DollarPrefixedFieldName, `The dollar ($) prefixed field '${key}' in '${key}' is not allowed in the context of an update's replacement document.`);
    }
  }
  const { _id: replacementId, ...rest } = replacement;
  const doc: Document = {};
  // _id stays the first field, as in mongod.
  if (original._id !== undefined) doc._id = original._id;
  else if (replacementId !== undefined) doc._id = replacementId;
  if (replacementId !== undefined && original._id !== undefined && !valuesEqual(replacementId, original._id)) {
    throw failure(
      ErrorCodes.ImmutableField,
      `After applying the update, the (immutable) field '_id' was found to have been altered to _id: ${formatValue(replacementId)}`,
    );
  }
  return Object.assign(doc, cloneValue(rest));
}

function applyPipeline(original: Document, pipeline: Document[]): Document {
  const [result] = new Aggregator(pipeline, mingoOptions).run([cloneValue(original)]) as Document[];
  // Values taken from the command (a $literal) would otherwise be one object shared by every document updated.
  return cloneValue(result ?? {});
}

/** Returns the updated copy; the original is never mutated. */
export function applyUpdate(original: Document, update: UpdateSpec, options: UpdateOptions): Document {
  let next: Document;
  if (Array.isArray(update)) next = applyPipeline(original, update);
  else if (isOperatorUpdate(update)) next = applyOperators(original, update, options);
  else return applyReplacement(original, update);
  if (original._id !== undefined && !valuesEqual(next._id, original._id)) {
    throw failure(ErrorCodes.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'");
  }
  return moveIdFirst(next);
}

/**
 * The document an upsert inserts: equality fields of the query (including `$and` branches),
 * then the update applied with $setOnInsert active, then a generated ObjectId if no `_id`.
 */
export function buildUpsertDocument(filter: Document, update: UpdateSpec): Document {
  const seed = seedFromQuery(filter);
  let built: Document;
  if (Array.isArray(update) || isOperatorUpdate(update)) {
    built = applyUpdate(seed, update, { filter, isInsert: true });
  } else {
    // A replacement upsert keeps only the query's _id, not its other equality fields.
    built = applyReplacement(seed._id === undefined ? {} : { _id: seed._id }, update);
  }
  if (built._id === undefined) return { _id: new ObjectId(), ...built };
  return moveIdFirst(built);
}

function seedFromQuery(filter: Document): Document {
  const doc: Document = {};
  const visit = (conditions: Document): void => {
    for (const [path, condition] of Object.entries(conditions)) {
      if (path === '$and' && Array.isArray(condition)) {
        for (const branch of condition as Document[]) visit(branch);
        continue;
      }
      if (path.startsWith('$')) continue;
      let value: unknown = condition;
      if (condition !== null && typeof condition === 'object' && !Array.isArray(condition) && Object.getPrototypeOf(condition) === Object.prototype) {
        const keys = Object.keys(condition as Document);
        if (keys.some((key) => key.startsWith('$'))) {
          if (keys.length === 1 && '$eq' in (condition as Document)) value = (condition as Document).$eq;
          else continue;
        }
      }
      if (value instanceof RegExp) continue;
      const slot = locate(doc, path.split('.'), true);
      if (slot !== undefined) assign(slot.container, slot.field, cloneValue(value));
    }
  };
  visit(filter);
  return doc;
}
