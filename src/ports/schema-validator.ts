import ajvModule from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import type { ErrorObject } from 'ajv/dist/2020.js';

/**
 * The one place the ports use ajv. A shared schema registry will replace this later (the spine owns it);
 * keep the signature and swap the body.
 */

export interface SchemaViolation {
  /** JSON Pointer into the data, `''` for the root. */
  path: string;
  message: string;
}

/** Validates data against a schema by `$id`; returns the violations, empty when valid. */
export type ValidateBySchemaId = (schemaId: string, data: unknown) => SchemaViolation[];

export function compileSchemas(schemas: readonly object[]): ValidateBySchemaId {
  // ajv ships CommonJS; under NodeNext its default import is `module.exports`, whose `.default` is the class.
  const ajv = new ajvModule.default({ allErrors: true, strict: true });
  formatsModule.default(ajv);
  for (const schema of schemas) ajv.addSchema(schema);
  return (schemaId, data) => {
    const validate = ajv.getSchema(schemaId);
    if (!validate) throw new Error(`Unknown schema ${schemaId}`);
    return validate(data) ? [] : (validate.errors ?? []).map(toViolation);
  };
}

function toViolation(error: ErrorObject): SchemaViolation {
  return { path: error.instancePath, message: describe(error) };
}

/** Messages a language model can act on: name the offending property and the allowed values. */
function describe(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `unknown property "${String(params['additionalProperty'])}"`;
  if (error.keyword === 'required') return `missing required property "${String(params['missingProperty'])}"`;
  if (error.keyword === 'enum') return `must be one of: ${(params['allowedValues'] as unknown[]).map(String).join(', ')}`;
  return error.message ?? error.keyword;
}
