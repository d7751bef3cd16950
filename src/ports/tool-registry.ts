import type { ToolDefinition } from './language-model.js';
import { readSchemaFile, schemasDir } from './schema-files.js';
import { compileSchemas, type SchemaViolation, type ValidateBySchemaId } from './schema-validator.js';

/**
 * The assistant's tools, from one source: `schemas/intents/index.json` (names, `mutates`) and one JSON
 * Schema per tool (its root `description` is the tool's description, the rest its parameters).
 * From that source come the port's `ToolDefinition`s, OpenAI `tools`, Deepgram `think.functions`, and the
 * validation of the arguments a model sends.
 */

/** Mirrors index.json; `ToolRegistry.load` fails if the two disagree. Lets executors switch exhaustively. */
export const TOOL_NAMES = [
  'get_next_dose',
  'get_adherence',
  'get_medication_plan',
  'log_symptom',
  'confirm_dose',
  'request_help',
] as const;

export type ToolName = (typeof TOOL_NAMES)[number];

export interface AssistantTool extends ToolDefinition {
  name: ToolName;
  /** True when running the tool changes state (irreversible); false for look-ups. */
  mutates: boolean;
  schemaId: string;
}

/** Chat Completions `tools[]` entry. */
export interface OpenAIFunctionTool {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** Deepgram Voice Agent `agent.think.functions[]` entry; no `endpoint`, so calls run client side. */
export interface DeepgramAgentFunction {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  /** Present (true) on mutating tools: Deepgram holds the call until the user's turn ends. */
  defer_until_eot?: true;
}

export interface ToolCallError {
  code: 'unknown_tool' | 'invalid_json' | 'invalid_arguments';
  /** Written for the model: send it back as the tool result so it can correct the call. */
  message: string;
  violations?: SchemaViolation[];
}

export type ParsedToolCall =
  | { ok: true; tool: AssistantTool; arguments: Record<string, unknown> }
  | { ok: false; error: ToolCallError };

export interface ToolSelection {
  /** Only tools with this `mutates` flag, e.g. `{ mutates: false }` while mutating tools are not wired. */
  mutates?: boolean;
  names?: readonly string[];
}

export class ToolRegistry {
  private constructor(
    readonly tools: readonly AssistantTool[],
    private readonly validate: ValidateBySchemaId,
  ) {}

  /**
   * Reads `schemas/intents/` (synchronously: it runs once at boot). Throws if the files are inconsistent.
   * Pass `validate` to use the hub's shared schema registry instead of this module's own ajv.
   */
  static load(options: { dir?: string; validate?: ValidateBySchemaId } = {}): ToolRegistry {
    const dir = options.dir ?? schemasDir();
    const entries = readIndex(dir);
    const schemas = entries.map((entry) => readToolSchema(dir, entry.name, entry.schema));
    const tools = entries.map((entry, i) => toAssistantTool(entry, schemas[i] as ToolSchema));
    return new ToolRegistry(Object.freeze(tools), options.validate ?? compileSchemas(schemas));
  }

  get(name: string): AssistantTool | undefined {
    return this.tools.find((tool) => tool.name === name);
  }

  select(selection: ToolSelection = {}): AssistantTool[] {
    return this.tools.filter(
      (tool) =>
        (selection.mutates === undefined || tool.mutates === selection.mutates) &&
        (selection.names === undefined || selection.names.includes(tool.name)),
    );
  }

  /** For `LanguageModelRequest.tools`. */
  definitions(selection?: ToolSelection): ToolDefinition[] {
    return this.select(selection).map(({ name, description, parameters }) => ({ name, description, parameters }));
  }

  openAITools(selection?: ToolSelection): OpenAIFunctionTool[] {
    return this.select(selection).map(toOpenAITool);
  }

  deepgramFunctions(selection?: ToolSelection): DeepgramAgentFunction[] {
    return this.select(selection).map(toDeepgramFunction);
  }

  /** Parses and validates a tool call's JSON arguments. Never throws. */
  parseArguments(name: string, argumentsJson: string): ParsedToolCall {
    const tool = this.get(name);
    if (!tool) return failure('unknown_tool', `There is no tool named "${name}". Available tools: ${TOOL_NAMES.join(', ')}.`);
    const parsed = parseJson(argumentsJson);
    if (!parsed.ok) return failure('invalid_json', `The arguments for ${name} are not valid JSON. Send a JSON object.`);
    const violations = this.validate(tool.schemaId, parsed.value);
    if (violations.length > 0) return failure('invalid_arguments', describeViolations(name, violations), violations);
    return { ok: true, tool, arguments: parsed.value as Record<string, unknown> };
  }
}

export function toOpenAITool(tool: ToolDefinition): OpenAIFunctionTool {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: structuredClone(tool.parameters) } };
}

export function toDeepgramFunction(tool: AssistantTool): DeepgramAgentFunction {
  const fn: DeepgramAgentFunction = { name: tool.name, description: tool.description, parameters: structuredClone(tool.parameters) };
  // NOTES.md: defer_until_eot holds a call until the user's turn ends; use it for irreversible actions.
  if (tool.mutates) fn.defer_until_eot = true;
  return fn;
}

// ---------------------------------------------------------------------------------------------------

interface IndexEntry {
  name: ToolName;
  schema: string;
  mutates: boolean;
}

interface ToolSchema extends Record<string, unknown> {
  $id: string;
  description: string;
}

function readIndex(dir: string): IndexEntry[] {
  const index = readSchemaFile('intents/index.json', dir) as { tools?: unknown };
  if (!Array.isArray(index.tools)) throw new Error('schemas/intents/index.json: "tools" must be an array');
  const entries = index.tools.map(checkIndexEntry);
  const names = entries.map((entry) => entry.name);
  const missing = TOOL_NAMES.filter((name) => !names.includes(name));
  if (missing.length > 0 || names.length !== TOOL_NAMES.length) {
    throw new Error(`schemas/intents/index.json must list each of ${TOOL_NAMES.join(', ')} once`);
  }
  return entries;
}

function checkIndexEntry(value: unknown): IndexEntry {
  const entry = value as Partial<Record<keyof IndexEntry, unknown>>;
  const valid =
    typeof entry.name === 'string' &&
    (TOOL_NAMES as readonly string[]).includes(entry.name) &&
    typeof entry.schema === 'string' &&
    typeof entry.mutates === 'boolean';
  if (!valid) throw new Error(`schemas/intents/index.json: bad entry ${JSON.stringify(value)}`);
  return entry as IndexEntry;
}

function readToolSchema(dir: string, name: string, file: string): ToolSchema {
  const schema = readSchemaFile(`intents/${file}`, dir) as Record<string, unknown>;
  const expectedId = `https://medhub.dev/schemas/intents/${name}.json`;
  const problems = [
    schema['$id'] !== expectedId && `$id must be ${expectedId}`,
    schema['type'] !== 'object' && 'type must be "object"',
    schema['additionalProperties'] !== false && 'additionalProperties must be false',
    (typeof schema['description'] !== 'string' || schema['description'] === '') && 'description is required',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`schemas/intents/${file}: ${problems.join('; ')}`);
  return schema as ToolSchema;
}

/** The parameters a model sees: the schema without the identity keys that only matter to validators. */
function toAssistantTool(entry: IndexEntry, schema: ToolSchema): AssistantTool {
  const { $schema: _schema, $id, title: _title, description, ...parameters } = schema;
  return Object.freeze({ name: entry.name, description, parameters: deepFreeze(parameters), mutates: entry.mutates, schemaId: $id });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  // Some OpenAI-compatible servers send "" for a call without arguments.
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function describeViolations(name: string, violations: readonly SchemaViolation[]): string {
  const list = violations.map((v) => `${v.path === '' ? 'arguments' : v.path}: ${v.message}`).join('; ');
  return `Invalid arguments for ${name}: ${list}. Fix the arguments and call ${name} again.`;
}

function failure(code: ToolCallError['code'], message: string, violations?: SchemaViolation[]): ParsedToolCall {
  return { ok: false, error: violations ? { code, message, violations } : { code, message } };
}
