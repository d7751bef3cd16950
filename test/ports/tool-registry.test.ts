import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { findPackageRoot, schemasDir } from '../../src/ports/schema-files.js';
import { TOOL_NAMES, ToolRegistry } from '../../src/ports/tool-registry.js';

const registry = ToolRegistry.load();
const MUTATING = ['log_symptom', 'confirm_dose', 'request_help'];

t.test('loads the six tools from schemas/intents/, in index order, with their mutates flags', async (t) => {
  t.same(
    registry.tools.map((tool) => tool.name),
    [...TOOL_NAMES],
  );
  t.same(registry.select({ mutates: true }).map((tool) => tool.name), MUTATING);
  t.same(registry.select({ mutates: false }).map((tool) => tool.name), ['get_next_dose', 'get_adherence', 'get_medication_plan']);
  t.same(registry.select({ names: ['request_help'] }).map((tool) => tool.name), ['request_help']);
  t.equal(registry.get('nope'), undefined);
});

t.test('every intent schema follows the house rules', async (t) => {
  const dir = join(schemasDir(), 'intents');
  const files = readdirSync(dir).filter((file) => file !== 'index.json');
  t.equal(files.length, TOOL_NAMES.length, 'one schema file per tool, nothing stray');
  for (const file of files) {
    const schema = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    const name = file.replace(/\.json$/, '');
    t.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema', `${file}: 2020-12`);
    t.equal(schema['$id'], `https://medhub.dev/schemas/intents/${name}.json`, `${file}: $id`);
    t.equal(schema['additionalProperties'], false, `${file}: closed`);
    t.ok(String(schema['description']).length > 40, `${file}: a description an LLM can act on`);
    for (const [property, spec] of Object.entries(schema['properties'] as Record<string, Record<string, unknown>>)) {
      t.ok(typeof spec['description'] === 'string' && spec['description'] !== '', `${file}: ${property} is described`);
      if (spec['type'] === 'string') t.ok('enum' in spec || 'maxLength' in spec, `${file}: ${property} is bounded`);
    }
  }
});

t.test('OpenAI tools and Deepgram functions come from the same schemas', async (t) => {
  const openai = registry.openAITools();
  const deepgram = registry.deepgramFunctions();
  t.equal(openai.length, 6);
  t.equal(deepgram.length, 6);
  for (const [i, tool] of registry.tools.entries()) {
    const o = openai[i];
    const d = deepgram[i];
    t.same(Object.keys(o ?? {}).sort(), ['function', 'type']);
    t.equal(o?.type, 'function');
    t.same(o?.function, { name: tool.name, description: tool.description, parameters: tool.parameters }, `${tool.name}: OpenAI shape`);
    t.same(Object.keys(d ?? {}).sort(), tool.mutates ? ['defer_until_eot', 'description', 'name', 'parameters'] : ['description', 'name', 'parameters']);
    t.same({ name: d?.name, description: d?.description, parameters: d?.parameters }, o?.function, `${tool.name}: Deepgram carries the same definition`);
    t.equal(d?.defer_until_eot, tool.mutates ? true : undefined, `${tool.name}: irreversible calls wait for the end of the turn`);
    t.notOk('$id' in tool.parameters || '$schema' in tool.parameters || 'title' in tool.parameters, `${tool.name}: no validator-only keys for the model`);
    t.equal(tool.parameters['type'], 'object');
  }
  t.same(registry.definitions({ mutates: false }).map((d) => Object.keys(d).sort()), Array(3).fill(['description', 'name', 'parameters']));
});

t.test('hands out copies: callers cannot change the registry', async (t) => {
  const tool = registry.openAITools()[0];
  if (!tool) return t.fail('no tool');
  tool.function.parameters['additionalProperties'] = true;
  t.equal(registry.openAITools()[0]?.function.parameters['additionalProperties'], false);
  t.throws(() => {
    (registry.tools[0]?.parameters as Record<string, unknown>)['type'] = 'array';
  }, TypeError);
});

t.test('validates tool-call arguments and explains failures to the model', async (t) => {
  const ok = registry.parseArguments('log_symptom', '{"symptom":"headache","severity":"mild","started_at":"2025-03-10T08:00:00+01:00"}');
  t.ok(ok.ok);
  t.same(ok.ok && ok.arguments, { symptom: 'headache', severity: 'mild', started_at: '2025-03-10T08:00:00+01:00' });
  t.equal(ok.ok && ok.tool.mutates, true);
  t.ok(registry.parseArguments('get_medication_plan', '').ok, 'an empty string means no arguments');
  t.ok(registry.parseArguments('confirm_dose', '{"medication":"Metformin","occurrence_id":"occ_1"}').ok);

  const invalid = registry.parseArguments('log_symptom', '{"symptom":"headache","severity":"awful","mood":"sad","started_at":"this morning"}');
  t.notOk(invalid.ok);
  if (invalid.ok) return;
  t.equal(invalid.error.code, 'invalid_arguments');
  t.match(invalid.error.message, /^Invalid arguments for log_symptom: /);
  t.match(invalid.error.message, '/severity: must be one of: mild, moderate, severe');
  t.match(invalid.error.message, 'unknown property "mood"');
  t.match(invalid.error.message, '/started_at: must match format "date-time"');
  t.match(invalid.error.message, /call log_symptom again\.$/);

  const missing = registry.parseArguments('request_help', '{"urgency":"urgent"}');
  t.match(!missing.ok && missing.error, { code: 'invalid_arguments', message: /missing required property "reason"/ });
  const tooLong = registry.parseArguments('request_help', JSON.stringify({ urgency: 'urgent', reason: 'x'.repeat(501) }));
  t.match(!tooLong.ok && tooLong.error.message, 'must NOT have more than 500 characters');
  const badId = registry.parseArguments('confirm_dose', '{"medication":"Metformin","occurrence_id":"../etc"}');
  t.notOk(badId.ok, 'occurrence ids are constrained');
  const notJson = registry.parseArguments('get_next_dose', '{"medication": ');
  t.match(!notJson.ok && notJson.error, { code: 'invalid_json', message: 'not valid JSON' });
  const notObject = registry.parseArguments('get_next_dose', '[1]');
  t.match(!notObject.ok && notObject.error, { code: 'invalid_arguments', message: 'must be object' });
  const unknown = registry.parseArguments('delete_patient', '{}');
  t.match(!unknown.ok && unknown.error, { code: 'unknown_tool', message: 'Available tools: get_next_dose' });
});

t.test('can use an injected validator (the hub-wide schema registry)', async (t) => {
  const seen: string[] = [];
  const injected = ToolRegistry.load({
    validate: (schemaId) => {
      seen.push(schemaId);
      return [{ path: '/reason', message: 'rejected by the shared registry' }];
    },
  });
  const result = injected.parseArguments('request_help', '{"urgency":"routine","reason":"x"}');
  t.match(!result.ok && result.error.message, '/reason: rejected by the shared registry');
  t.same(seen, ['https://medhub.dev/schemas/intents/request_help.json']);
});

t.test('refuses inconsistent schema folders at load', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medhub-intents-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(schemasDir(), dir, { recursive: true });
  const indexPath = join(dir, 'intents', 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { tools: unknown[] };

  writeFileSync(indexPath, JSON.stringify({ tools: index.tools.slice(1) }));
  t.throws(() => ToolRegistry.load({ dir }), /must list each of/);

  writeFileSync(indexPath, JSON.stringify(index));
  const schemaPath = join(dir, 'intents', 'get_next_dose.json');
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(schemaPath, JSON.stringify({ ...schema, additionalProperties: true }));
  t.throws(() => ToolRegistry.load({ dir }), /get_next_dose.json: additionalProperties must be false/);
});

t.test('finds the schemas both from src/ and from dist/src/', async (t) => {
  const root = findPackageRoot();
  t.ok(readdirSync(root).includes('package.json'));
  t.equal(findPackageRoot(pathToFileURL(join(root, 'src', 'ports', 'schema-files.ts')).href), root);
  t.equal(findPackageRoot(pathToFileURL(join(root, 'dist', 'src', 'ports', 'schema-files.js')).href), root);
  t.equal(schemasDir(), join(root, 'schemas'));
});
