/**
 * Reading and writing one concrete dotted path in a document being updated. Numeric
 * components index arrays; missing intermediate fields are created as embedded documents.
 * Writing through a scalar is mongod's PathNotViable (28).
 */
import { formatValue } from '../bson/format.js';
import { isPlainDocument } from '../bson/values.js';
import { ErrorCodes, failure } from '../errors.js';

type Container = Record<string, unknown> | unknown[];

export interface Slot {
  container: Container;
  field: string;
}

function isContainer(value: unknown): value is Container {
  return Array.isArray(value) || isPlainDocument(value);
}

function childOf(container: Container, field: string): unknown {
  if (Array.isArray(container)) return /^\d+$/.test(field) ? container[Number(field)] : undefined;
  return Object.prototype.hasOwnProperty.call(container, field) ? container[field] : undefined;
}

function describeParent(parts: readonly string[], depth: number, value: unknown): string {
  return `{${parts[depth - 1] ?? ''}: ${formatValue(value)}}`;
}

/** The value at a concrete path, or undefined. */
export function readPath(doc: Record<string, unknown>, parts: readonly string[]): unknown {
  let current: unknown = doc;
  for (const field of parts) {
    if (!isContainer(current)) return undefined;
    current = childOf(current, field);
  }
  return current;
}

/**
 * The container and field where `parts` lives, creating missing embedded documents when
 * `create` is set. Returns undefined when the path is absent and `create` is false.
 */
export function locate(doc: Record<string, unknown>, parts: readonly string[], create: boolean): Slot | undefined {
  let container: Container = doc;
  for (let depth = 0; depth < parts.length - 1; depth++) {
    const field = parts[depth] as string;
    if (Array.isArray(container) && !/^\d+$/.test(field)) {
      throw failure(
        ErrorCodes.PathNotViable,
        `Cannot create field '${field}' in element ${describeParent(parts, depth, container)}`,
      );
    }
    let next = childOf(container, field);
    if (next === undefined || next === null) {
      if (!create) return undefined;
      if (next === null) {
        throw failure(ErrorCodes.PathNotViable, `Cannot create field '${parts[depth + 1] ?? ''}' in element {${field}: null}`);
      }
      next = {};
      assign(container, field, next);
    } else if (!isContainer(next)) {
      if (!create) return undefined;
      throw failure(
        ErrorCodes.PathNotViable,
        `Cannot create field '${parts[depth + 1] ?? ''}' in element {${field}: ${formatValue(next)}}`,
      );
    }
    container = next as Container;
  }
  const field = parts[parts.length - 1] as string;
  if (Array.isArray(container) && !/^\d+$/.test(field)) {
    if (!create) return undefined;
    throw failure(
      ErrorCodes.PathNotViable,
      `Cannot create field '${field}' in element {${parts[parts.length - 2] ?? ''}: ${formatValue(container)}}`,
    );
  }
  return { container, field };
}

export function readSlot(slot: Slot): unknown {
  return childOf(slot.container, slot.field);
}

/** Writes a value; setting past the end of an array pads it with nulls, as mongod does. */
export function assign(container: Container, field: string, value: unknown): void {
  if (Array.isArray(container)) {
    const index = Number(field);
    while (container.length < index) container.push(null);
    container[index] = value;
  } else {
    container[field] = value;
  }
}

/** $unset semantics: removes a document field; an array element becomes null. */
export function removeAt(slot: Slot): boolean {
  const { container, field } = slot;
  if (Array.isArray(container)) {
    const index = Number(field);
    if (index >= container.length) return false;
    container[index] = null;
    return true;
  }
  if (!Object.prototype.hasOwnProperty.call(container, field)) return false;
  delete container[field];
  return true;
}
