/**
 * Field update operators applied to one concrete path. mingo's updater lacks $setOnInsert,
 * mishandles $addToSet on arrays that already hold duplicates, and silently ignores type
 * errors, so these follow mongod's behaviour and error codes instead.
 */
import { Long, Timestamp } from 'bson';
import type { Document } from 'bson';
import { compareValues, valuesEqual } from '../bson/compare.js';
import { formatDocument, formatValue } from '../bson/format.js';
import { bsonTypeAlias, isNumeric, isPlainDocument } from '../bson/values.js';
import { cloneValue } from '../bson/clone.js';
import { ErrorCodes, failure } from '../errors.js';
import { compileFilter } from '../query/matcher.js';
import { sortDocuments } from '../query/sort.js';
import { addNumbers, multiplyNumbers, zeroLike } from './arithmetic.js';
import type { NumericOperand } from './arithmetic.js';
import { assign, locate, readSlot, removeAt } from './field-paths.js';

export interface OperatorContext {
  doc: Document;
  /** True when the update creates a document (upsert): $setOnInsert applies. */
  isInsert: boolean;
  now: Date;
}

export type FieldOperator = (ctx: OperatorContext, parts: string[], operand: unknown) => void;

function pathText(parts: string[]): string {
  return parts.join('.');
}

function idText(ctx: OperatorContext): string {
  return formatDocument({ _id: ctx.doc._id });
}

const $set: FieldOperator = (ctx, parts, operand) => {
  const slot = locate(ctx.doc, parts, true);
  if (slot !== undefined) assign(slot.container, slot.field, cloneValue(operand));
};

const $setOnInsert: FieldOperator = (ctx, parts, operand) => {
  if (ctx.isInsert) $set(ctx, parts, operand);
};

const $unset: FieldOperator = (ctx, parts) => {
  const slot = locate(ctx.doc, parts, false);
  if (slot !== undefined) removeAt(slot);
};

function requireNumericOperand(name: string, parts: string[], operand: unknown): NumericOperand {
  if (!isNumeric(operand)) {
    const verb = name === '$inc' ? 'increment' : 'multiply';
    throw failure(
      ErrorCodes.TypeMismatch,
      `Cannot ${verb} with non-numeric argument: {${pathText(parts)}: ${formatValue(operand)}}`,
    );
  }
  return operand as NumericOperand;
}

/** The current value as mongod's overflow message shows it: `(NumberLong)9223372036854775807`. */
function typedText(value: NumericOperand): string {
  if (value instanceof Long) return `(NumberLong)${value.toString()}`;
  return Number.isInteger(value) ? `(NumberInt)${String(value)}` : formatValue(value);
}

function arithmetic(name: '$inc' | '$mul', combine: (a: NumericOperand, b: NumericOperand) => NumericOperand | undefined): FieldOperator {
  return (ctx, parts, operand) => {
    const amount = requireNumericOperand(name, parts, operand);
    const slot = locate(ctx.doc, parts, true);
    if (slot === undefined) return;
    const current = readSlot(slot);
    if (current === undefined) {
      // $inc on a missing field sets the amount; $mul sets a zero of the operand's type.
      assign(slot.container, slot.field, name === '$inc' ? amount : zeroLike(amount));
      return;
    }
    if (!isNumeric(current)) {
      throw failure(
        ErrorCodes.TypeMismatch,
        `Cannot apply ${name} to a value of non-numeric type. ${idText(ctx)} has the field '${slot.field}' of non-numeric type ${bsonTypeAlias(current)}`,
      );
    }
    const result = combine(current as NumericOperand, amount);
    if (result === undefined) {
      throw failure(
        ErrorCodes.BadValue,
        `Failed to apply ${name} operations to current value (${typedText(current as NumericOperand)}) for document {_id: ${formatValue(ctx.doc._id)}}`,
      );
    }
    assign(slot.container, slot.field, result);
  };
}

function extremum(keepIf: (diff: number) => boolean): FieldOperator {
  return (ctx, parts, operand) => {
    const slot = locate(ctx.doc, parts, true);
    if (slot === undefined) return;
    const current = readSlot(slot);
    if (current === undefined || keepIf(compareValues(operand, current))) {
      assign(slot.container, slot.field, cloneValue(operand));
    }
  };
}

function arrayAt(ctx: OperatorContext, parts: string[], operator: string): { slot: ReturnType<typeof locate>; array: unknown[] | undefined } {
  const slot = locate(ctx.doc, parts, true);
  if (slot === undefined) return { slot, array: undefined };
  const current = readSlot(slot);
  if (current === undefined) return { slot, array: undefined };
  if (!Array.isArray(current)) {
    if (operator === '$addToSet') {
      throw failure(
        ErrorCodes.BadValue,
        `Cannot apply $addToSet to non-array field. Field named '${slot.field}' has non-array type ${bsonTypeAlias(current)}`,
      );
    }
    throw failure(
      ErrorCodes.BadValue,
      `The field '${pathText(parts)}' must be an array but is of type ${bsonTypeAlias(current)} in document ${idText(ctx)}`,
    );
  }
  return { slot, array: current };
}

function eachValues(operand: unknown): { values: unknown[]; modifiers: Document } {
  if (isPlainDocument(operand) && '$each' in operand) {
    const each = operand.$each;
    if (!Array.isArray(each)) {
      throw failure(ErrorCodes.BadValue, `The argument to $each in $push must be an array but it was of type: ${bsonTypeAlias(each)}`);
    }
    return { values: each.map((value) => cloneValue(value)), modifiers: operand };
  }
  return { values: [cloneValue(operand)], modifiers: {} };
}

function sortArray(values: unknown[], spec: unknown): unknown[] {
  if (isPlainDocument(spec)) return sortDocuments(values as Document[], spec);
  const direction = Number(spec) === -1 ? -1 : 1;
  return [...values].sort((a, b) => compareValues(a, b) * direction);
}

const $push: FieldOperator = (ctx, parts, operand) => {
  const { slot, array } = arrayAt(ctx, parts, '$push');
  if (slot === undefined) return;
  const { values, modifiers } = eachValues(operand);
  let result = array === undefined ? [] : [...array];
  const position = modifiers.$position;
  if (typeof position === 'number') {
    const at = position < 0 ? Math.max(0, result.length + position) : Math.min(position, result.length);
    result.splice(at, 0, ...values);
  } else {
    result.push(...values);
  }
  if (modifiers.$sort !== undefined) result = sortArray(result, modifiers.$sort);
  const slice = modifiers.$slice;
  if (typeof slice === 'number') result = slice >= 0 ? result.slice(0, slice) : result.slice(slice);
  assign(slot.container, slot.field, result);
};

const $addToSet: FieldOperator = (ctx, parts, operand) => {
  const { slot, array } = arrayAt(ctx, parts, '$addToSet');
  if (slot === undefined) return;
  const { values } = eachValues(operand);
  // Existing duplicates stay; only values not yet present are appended (mingo gets this wrong).
  const result = array === undefined ? [] : [...array];
  for (const value of values) if (!result.some((existing) => valuesEqual(existing, value))) result.push(value);
  assign(slot.container, slot.field, result);
};

function elementMatcher(condition: unknown): (element: unknown) => boolean {
  if (isPlainDocument(condition)) {
    const keys = Object.keys(condition);
    if (keys.length > 0 && keys.every((key) => key.startsWith('$'))) {
      const predicate = compileFilter({ value: condition });
      return (element) => predicate({ value: element });
    }
    const predicate = compileFilter(condition);
    return (element) => isPlainDocument(element) && predicate(element);
  }
  if (condition instanceof RegExp) return (element) => typeof element === 'string' && condition.test(element);
  return (element) => valuesEqual(element, condition);
}

function pullWith(matches: (element: unknown) => boolean, name: string): FieldOperator {
  return (ctx, parts) => {
    const slot = locate(ctx.doc, parts, false);
    if (slot === undefined) return;
    const current = readSlot(slot);
    if (current === undefined) return;
    if (!Array.isArray(current)) throw failure(ErrorCodes.BadValue, `Cannot apply ${name} to a non-array value`);
    assign(slot.container, slot.field, current.filter((element) => !matches(element)));
  };
}

const $pull: FieldOperator = (ctx, parts, operand) => pullWith(elementMatcher(operand), '$pull')(ctx, parts, operand);

const $pullAll: FieldOperator = (ctx, parts, operand) => {
  if (!Array.isArray(operand)) {
    throw failure(ErrorCodes.BadValue, `$pullAll requires an array argument but was given a ${bsonTypeAlias(operand)}`);
  }
  pullWith((element) => operand.some((value) => valuesEqual(element, value)), '$pullAll')(ctx, parts, operand);
};

const $pop: FieldOperator = (ctx, parts, operand) => {
  const slot = locate(ctx.doc, parts, false);
  if (slot === undefined) return;
  const current = readSlot(slot);
  if (current === undefined) return;
  if (!Array.isArray(current)) {
    throw failure(ErrorCodes.TypeMismatch, `Path '${pathText(parts)}' contains an element of non-array type '${bsonTypeAlias(current)}'`);
  }
  assign(slot.container, slot.field, Number(operand) === -1 ? current.slice(1) : current.slice(0, -1));
};

const $currentDate: FieldOperator = (ctx, parts, operand) => {
  const wantsTimestamp = isPlainDocument(operand) && operand.$type === 'timestamp';
  const value = wantsTimestamp
    ? new Timestamp({ t: Math.floor(ctx.now.getTime() / 1000), i: 1 })
    : new Date(ctx.now.getTime());
  $set(ctx, parts, value);
};

const $bit: FieldOperator = (ctx, parts, operand) => {
  const slot = locate(ctx.doc, parts, true);
  if (slot === undefined || !isPlainDocument(operand)) return;
  const current = readSlot(slot) ?? 0;
  if (!(typeof current === 'number' || current instanceof Long)) {
    throw failure(ErrorCodes.BadValue, `Cannot apply $bit to a value of non-integral type. ${idText(ctx)} has the field ${slot.field} of non-integer type ${bsonTypeAlias(current)}`);
  }
  let result = BigInt(current.toString());
  for (const [kind, raw] of Object.entries(operand)) {
    const mask = BigInt(String(raw));
    if (kind === 'and') result &= mask;
    else if (kind === 'or') result |= mask;
    else if (kind === 'xor') result ^= mask;
  }
  assign(slot.container, slot.field, current instanceof Long ? Long.fromBigInt(result) : Number(result));
};

export const fieldOperators: Record<string, FieldOperator> = {
  $set,
  $setOnInsert,
  $unset,
  $inc: arithmetic('$inc', addNumbers),
  $mul: arithmetic('$mul', multiplyNumbers),
  $min: extremum((diff) => diff < 0),
  $max: extremum((diff) => diff > 0),
  $push,
  $addToSet,
  $pull,
  $pullAll,
  $pop,
  $currentDate,
  $bit,
};
