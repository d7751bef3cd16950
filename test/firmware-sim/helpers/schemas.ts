/**
 * The schemas under test, compiled the way the hub compiles them: ajv for
 * JSON Schema 2020-12, strict, with formats and the `discriminator` keyword.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { topicContract, topicNameOf } from '../../../firmware-sim/topics.js';
import { schemasDir } from '../../../src/paths.js';

export { schemasDir };

export type SchemaDocument = Record<string, unknown> & { $id: string; examples?: unknown[] };

export function readSchemas(folder: 'mqtt' | 'common'): Map<string, SchemaDocument> {
  const dir = join(schemasDir, folder);
  const documents = new Map<string, SchemaDocument>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
    documents.set(file, JSON.parse(readFileSync(join(dir, file), 'utf8')) as SchemaDocument);
  }
  return documents;
}

let shared: Ajv2020 | undefined;

export function schemaAjv(): Ajv2020 {
  if (shared) return shared;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, discriminator: true });
  addFormats.default(ajv);
  for (const folder of ['common', 'mqtt'] as const) for (const document of readSchemas(folder).values()) ajv.addSchema(document);
  shared = ajv;
  return ajv;
}

export function validatorFor(schemaFile: string): ValidateFunction {
  const validate = schemaAjv().getSchema(`https://medhub.dev/schemas/mqtt/${schemaFile}`);
  if (!validate) throw new Error(`no schema ${schemaFile}`);
  return validate;
}

/** Validates a raw payload against the schema of the topic it was published on. */
export function checkTopicPayload(topic: string, payload: string): { ok: boolean; errors: ErrorObject[] } {
  const name = topicNameOf(topic);
  if (!name) return { ok: false, errors: [{ message: `topic ${topic} is outside the contract` } as ErrorObject] };
  const validate = validatorFor(topicContract(name).schema);
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return { ok: false, errors: [{ message: 'not JSON' } as ErrorObject] };
  }
  const ok = validate(value) as boolean;
  return { ok, errors: validate.errors ?? [] };
}
