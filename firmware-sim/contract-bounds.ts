/**
 * The numeric bounds of a schedule, read from the contract itself
 * (schemas/mqtt/schedule.json and the building blocks it $refs in
 * schemas/common/types.json) once, when the simulator loads. The simulator's
 * structural checks (inbound.ts) use them, so a bound widened in the schema is
 * widened here too and the two cannot drift apart. A bound the schema no
 * longer states fails loudly at load time rather than silently accepting
 * anything.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Bounds {
  min: number;
  max: number;
}

export interface ScheduleBounds {
  version: Bounds;
  maxItems: number;
  slot: Bounds;
  pills: Bounds;
  earlyMinutes: Bounds;
  lateAfterMinutes: Bounds;
  missedAfterMinutes: Bounds;
}

type SchemaNode = {
  $ref?: string;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  [keyword: string]: unknown;
};

/** The repository's schemas/ folder: walks up to package.json, so it works from firmware-sim/ (tsx) and dist/firmware-sim/ (tsc) alike. */
function schemasDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'schemas');
    const parent = dirname(dir);
    if (parent === dir) throw new Error('firmware-sim: no package.json (and so no schemas/) above this file');
    dir = parent;
  }
}

const documents = new Map<string, SchemaNode>();

function readDocument(file: string): SchemaNode {
  let document = documents.get(file);
  if (!document) {
    document = JSON.parse(readFileSync(file, 'utf8')) as SchemaNode;
    documents.set(file, document);
  }
  return document;
}

function at(node: SchemaNode, path: string[], where: string): SchemaNode {
  let current: unknown = node;
  for (const key of path) {
    current = (current as Record<string, unknown> | undefined)?.[key];
    if (current === undefined) throw new Error(`firmware-sim: ${where} has no ${path.join('/')}`);
  }
  return current as SchemaNode;
}

/** A schema node's bounds, its $ref's included: both apply, so the narrower wins. */
function boundsOf(node: SchemaNode, file: string, where: string): Bounds {
  let min = node.minimum ?? -Infinity;
  let max = node.maximum ?? Infinity;
  if (node.$ref) {
    const [relative = '', pointer = ''] = node.$ref.split('#');
    const target = relative ? resolve(dirname(file), relative) : file;
    const referenced = at(readDocument(target), pointer.split('/').filter(Boolean), target);
    const inner = boundsOf(referenced, target, `${where} → ${node.$ref}`);
    min = Math.max(min, inner.min);
    max = Math.min(max, inner.max);
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`firmware-sim: ${where} states no minimum or maximum`);
  return { min, max };
}

function readScheduleBounds(): ScheduleBounds {
  const file = join(schemasDir(), 'mqtt', 'schedule.json');
  const schema = readDocument(file);
  const property = (...path: string[]) => boundsOf(at(schema, path, file), file, `schedule.json ${path.join('.')}`);
  const items = at(schema, ['properties', 'items'], file);
  if (typeof items.maxItems !== 'number') throw new Error('firmware-sim: schedule.json items has no maxItems');
  const item = ['properties', 'items', 'items', 'properties'];
  const window = [...item, 'window', 'properties'];
  return {
    version: property('properties', 'version'),
    maxItems: items.maxItems,
    slot: property(...item, 'slot'),
    pills: property(...item, 'pills'),
    earlyMinutes: property(...window, 'earlyMinutes'),
    lateAfterMinutes: property(...window, 'lateAfterMinutes'),
    missedAfterMinutes: property(...window, 'missedAfterMinutes'),
  };
}

export const SCHEDULE_BOUNDS: Readonly<ScheduleBounds> = Object.freeze(readScheduleBounds());
