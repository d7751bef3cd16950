/**
 * The schema registry: every JSON Schema under schemas/ is loaded once and
 * compiled on first use by one ajv (JSON Schema 2020-12). Every transport, the
 * simulator's tests and the docs use these files; nothing re-declares a wire
 * format. Two validators share the files: a strict one for payloads (bodies,
 * MQTT, socket events) and a coercing one for query strings and path params,
 * whose values arrive as text.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type FormatDefinition, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { AppError, type ErrorDetail } from './errors.js';
import { schemasDir } from './paths.js';

export const SCHEMA_BASE = 'https://medhub.dev/schemas/';

/** `schemaId('http/login')` → `https://medhub.dev/schemas/http/login.json`. */
export const schemaId = (name: string): string => (name.startsWith('https://') ? name : `${SCHEMA_BASE}${name}.json`);

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; details: ErrorDetail[] };

export interface SchemaRegistry {
  /** Validates and returns the value typed, or throws AppError('validation_failed') with details. */
  validate<T>(name: string, data: unknown): T;
  /** Validates without throwing. */
  check<T>(name: string, data: unknown): ValidationResult<T>;
  /** Like validate, but converts strings to the schema's types first (query strings, path params). */
  coerce<T>(name: string, data: unknown): T;
  /** Every loaded schema id. */
  ids(): string[];
}

export function createSchemaRegistry(dir: string = schemasDir): SchemaRegistry {
  const documents = loadSchemaFiles(dir);
  const strict = makeAjv(documents, false);
  const coercing = makeAjv(documents, true);
  const compiled = new Map<string, ValidateFunction>();

  function compile(ajv: Ajv2020, prefix: string, name: string): ValidateFunction {
    const id = schemaId(name);
    const key = prefix + id;
    let fn = compiled.get(key);
    if (!fn) {
      fn = ajv.getSchema(id);
      if (!fn) throw new Error(`Unknown schema ${id}`);
      compiled.set(key, fn);
    }
    return fn;
  }

  function run<T>(fn: ValidateFunction, data: unknown): ValidationResult<T> {
    if (fn(data)) return { ok: true, value: data as T };
    return { ok: false, details: toDetails(fn.errors ?? []) };
  }

  function orThrow<T>(result: ValidationResult<T>): T {
    if (result.ok) return result.value;
    throw new AppError('validation_failed', describe(result.details), { details: result.details });
  }

  return {
    check: (name, data) => run(compile(strict, 's:', name), data),
    validate: (name, data) => orThrow(run(compile(strict, 's:', name), data)),
    coerce: (name, data) => orThrow(run(compile(coercing, 'c:', name), data)),
    ids: () => documents.map((doc) => String(doc.$id)),
  };
}

/** The hub's registry: schema files are read once per process. */
let shared: SchemaRegistry | undefined;
export function schemas(): SchemaRegistry {
  shared ??= createSchemaRegistry();
  return shared;
}

function makeAjv(documents: Record<string, unknown>[], coerceTypes: boolean): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    strictRequired: false,
    // Discriminated unions (events by `type`) report only the matching branch's errors.
    discriminator: true,
    coerceTypes: coerceTypes ? 'array' : false,
    useDefaults: coerceTypes,
    schemas: documents,
  });
  addFormats.default(ajv);
  ajv.addFormat('date-time', representableDateTime());
  return ajv;
}

/**
 * RFC 3339's date-time, narrowed to what a JavaScript Date can hold. ajv-formats accepts a leap
 * second (23:59:60) and an hour-only offset (+01), which `new Date()` turns into an Invalid Date
 * that the store then refuses with a 500; checked here, every route, socket event and MQTT
 * payload refuses them as any other invalid value.
 */
function representableDateTime(): FormatDefinition<string> {
  // ajv-formats defines date-time as a validate function with a compare (for formatMinimum & co).
  const rfc3339 = addFormats.default.get('date-time') as { validate: (value: string) => boolean; compare: FormatDefinition<string>['compare'] };
  return { ...rfc3339, validate: (value) => rfc3339.validate(value) && !Number.isNaN(Date.parse(value)) };
}

function loadSchemaFiles(dir: string): Record<string, unknown>[] {
  const documents: Record<string, unknown>[] = [];
  for (const file of walkJsonFiles(dir)) {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    // Index files (e.g. schemas/intents/index.json) are data about schemas, not schemas.
    if (typeof doc.$id === 'string') documents.push(doc);
  }
  return documents;
}

function* walkJsonFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walkJsonFiles(path);
    else if (name.endsWith('.json')) yield path;
  }
}

/** ajv errors → `{path, message}` with JSON-pointer paths a client can map to fields. */
export function toDetails(errors: ErrorObject[]): ErrorDetail[] {
  const details = errors
    .filter((error) => !['if', 'oneOf', 'anyOf'].includes(error.keyword) || errors.length === 1)
    .map((error) => {
      const params = error.params as Record<string, unknown>;
      const child = params.missingProperty ?? params.additionalProperty;
      const path = child === undefined ? error.instancePath : `${error.instancePath}/${String(child)}`;
      const message = params.additionalProperty !== undefined ? 'is not allowed' : (error.message ?? 'is invalid');
      return { path: path || '/', message };
    });
  // ajv may report the same problem through several branches.
  const seen = new Set<string>();
  return details.filter((d) => !seen.has(`${d.path} ${d.message}`) && seen.add(`${d.path} ${d.message}`)).slice(0, 20);
}

function describe(details: ErrorDetail[]): string {
  const first = details[0];
  if (!first) return 'The request is not valid';
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return `${first.path} ${first.message}${more}`;
}
