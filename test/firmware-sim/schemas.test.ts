/**
 * The schemas themselves: they compile under the hub's ajv settings, follow
 * the house rules (closed objects, described and bounded fields), accept their
 * own examples and refuse representative bad payloads with precise errors.
 */
import t from 'tap';
import { TOPICS } from '../../firmware-sim/topics.js';
import { readSchemas, schemaAjv, validatorFor, type SchemaDocument } from './helpers/schemas.js';

const mqtt = readSchemas('mqtt');
const common = readSchemas('common');

t.test('every topic has a schema and every schema a topic', async (t) => {
  t.same([...mqtt.keys()].sort(), TOPICS.map((topic) => topic.schema).sort());
});

t.test('ids, titles and dialect', async (t) => {
  const named: [string, SchemaDocument][] = [
    ...[...mqtt].map(([file, schema]): [string, SchemaDocument] => [`mqtt/${file}`, schema]),
    ...[...common].map(([file, schema]): [string, SchemaDocument] => [`common/${file}`, schema]),
  ];
  for (const [file, schema] of named) {
    t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema', `${file} dialect`);
    t.equal(schema.$id, `https://medhub.dev/schemas/${file}`, `${file} $id`);
    t.type(schema.title, 'string', `${file} title`);
    t.type(schema.description, 'string', `${file} description`);
  }
});

/** Walks a schema and reports every place that breaks the house rules. */
function houseRuleViolations(node: unknown, path: string, problems: string[]): string[] {
  if (typeof node !== 'object' || node === null) return problems;
  if (Array.isArray(node)) {
    node.forEach((child, index) => houseRuleViolations(child, `${path}/${index}`, problems));
    return problems;
  }
  const schema = node as Record<string, unknown>;
  const bounded = schema.enum !== undefined || schema.const !== undefined || schema.$ref !== undefined;
  if (schema.type === 'string' && !bounded && schema.maxLength === undefined) problems.push(`${path}: string without maxLength`);
  if ((schema.type === 'integer' || schema.type === 'number') && (schema.minimum === undefined || schema.maximum === undefined) && !bounded) {
    problems.push(`${path}: number without minimum and maximum`);
  }
  if (schema.type === 'array' && schema.maxItems === undefined) problems.push(`${path}: array without maxItems`);
  if (schema.properties) {
    if (schema.additionalProperties !== false) problems.push(`${path}: object without additionalProperties: false`);
    for (const [name, property] of Object.entries(schema.properties as Record<string, Record<string, unknown>>)) {
      // A property that only points at a local definition inherits that definition's description.
      const describedByRef = typeof property.$ref === 'string' && property.$ref.startsWith('#/$defs/');
      if (typeof property.description !== 'string' && !describedByRef) problems.push(`${path}/properties/${name}: no description`);
    }
  }
  for (const [key, child] of Object.entries(schema)) {
    // Conditions (if, not) test a value; they do not describe a shape.
    if (['examples', 'enum', 'const', 'if', 'not'].includes(key)) continue;
    houseRuleViolations(child, `${path}/${key}`, problems);
  }
  return problems;
}

t.test('house rules: closed objects, described properties, bounded values', async (t) => {
  for (const [file, schema] of [...mqtt, ...common]) t.same(houseRuleViolations(schema, file, []), [], file);
  const defs = (mqtt.get('event.json') as SchemaDocument).$defs as Record<string, { description?: string }>;
  for (const [name, def] of Object.entries(defs)) t.type(def.description, 'string', `event $defs/${name} is described`);
});

t.test('every schema accepts its own examples', async (t) => {
  schemaAjv();
  for (const [file, schema] of mqtt) {
    t.ok((schema.examples ?? []).length > 0, `${file} has examples`);
    const validate = validatorFor(file);
    for (const example of schema.examples ?? []) t.ok(validate(example), `${file} example: ${JSON.stringify(validate.errors)}`);
  }
});

const at = '2025-03-01T08:00:00Z';
const eventId = '01JNB9A7ZK3V5XQ2M8C4D6F0GH';
const commandId = 'cmd_01JNBA0Q5W3E';
const window = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 120 };

/** [schema, why it is wrong, payload, JSON pointer of the expected error]. */
const badPayloads: [string, string, unknown, string][] = [
  ['heartbeat.json', 'battery over 100 %', { at, batteryPercent: 101, rssiDbm: -60, firmwareVersion: '1.0.0', uptimeSeconds: 1, appliedScheduleVersion: 0, slots: [] }, '/batteryPercent'],
  ['heartbeat.json', 'an unknown field', { at, batteryPercent: 50, rssiDbm: -60, firmwareVersion: '1.0.0', uptimeSeconds: 1, appliedScheduleVersion: 0, slots: [], temperature: 21 }, ''],
  ['heartbeat.json', 'a local time instead of UTC', { at: '2025-03-01T09:00:00+01:00', batteryPercent: 50, rssiDbm: -60, firmwareVersion: '1.0.0', uptimeSeconds: 1, appliedScheduleVersion: 0, slots: [] }, '/at'],
  ['event.json', 'an unknown type', { eventId, type: 'dose.eaten', at }, ''],
  ['event.json', 'a taken dose naming no dose', { eventId, type: 'dose.taken', at, slot: 1, pills: 1 }, ''],
  ['event.json', 'a command dispense without commandId', { eventId, type: 'dose.dispensed', at, slot: 1, pills: 1, trigger: 'command' }, ''],
  ['event.json', 'an eventId too short to be unique', { eventId: 'abc', type: 'help.requested', at }, '/eventId'],
  ['event.json', 'a field of another type', { eventId, type: 'device.tamper', at, sensor: 'tilt', slot: 2 }, ''],
  ['event.json', 'a slot out of range', { eventId, type: 'device.jam', at, slot: 99 }, '/slot'],
  ['status.json', 'offline without a reason', { state: 'offline', connectionId: 'conn-1234' }, ''],
  ['status.json', 'an unknown state', { state: 'sleeping', connectionId: 'conn-1234', at }, ''],
  ['ack.json', 'a failure without an error', { commandId, status: 'failed', at }, ''],
  ['ack.json', 'a success with an error', { commandId, status: 'succeeded', at, error: { code: 'internal' } }, ''],
  ['schedule.json', 'version 0', { version: 0, timezone: 'UTC', generatedAt: at, validUntil: at, items: [] }, '/version'],
  ['schedule.json', 'a time zone that is not an IANA name', { version: 1, timezone: 'Mars Olympus', generatedAt: at, validUntil: at, items: [] }, '/timezone'],
  ['schedule.json', 'a dose without a window', { version: 1, timezone: 'UTC', generatedAt: at, validUntil: at, items: [{ slot: 1, pills: 1, dueAt: at }] }, '/items/0'],
  ['schedule.json', 'more than 256 doses', { version: 1, timezone: 'UTC', generatedAt: at, validUntil: at, items: Array.from({ length: 257 }, () => ({ slot: 1, pills: 1, dueAt: at, window })) }, '/items'],
  ['command.json', 'params of another command type', { commandId, type: 'dispense_now', params: { durationSeconds: 5 }, issuedAt: at, expiresAt: at }, '/params'],
  ['command.json', 'no expiry', { commandId, type: 'ring', params: { durationSeconds: 5 }, issuedAt: at }, ''],
  ['command.json', 'an unknown command', { commandId, type: 'self_destruct', params: {}, issuedAt: at, expiresAt: at }, ''],
  ['error.json', 'an unknown code', { ref: { topic: 'v1/devices/d1/events' }, code: 'oops', message: 'x', at }, '/code'],
  ['error.json', 'more than 10 details', { ref: { topic: 'v1/devices/d1/events' }, code: 'schema_violation', message: 'x', at, details: Array.from({ length: 11 }, () => ({ path: '/', message: 'x' })) }, '/details'],
];

t.test('representative bad payloads are refused where the problem is', async (t) => {
  for (const [file, why, payload, pointer] of badPayloads) {
    const validate = validatorFor(file);
    t.notOk(validate(payload), `${file} refuses ${why}`);
    const paths = (validate.errors ?? []).map((error) => error.instancePath);
    t.ok(paths.includes(pointer), `${file} (${why}) reports ${pointer || 'the root'}; got ${JSON.stringify(paths)}`);
  }
});

t.test('the event discriminator reports only the errors of the event’s own type', async (t) => {
  const validate = validatorFor('event.json');
  t.notOk(validate({ eventId, type: 'refill.low', at, slot: 1, pills: 2 }));
  t.same(
    (validate.errors ?? []).map((error) => [error.keyword, error.params]),
    [['required', { missingProperty: 'threshold' }]],
    'one precise error, no noise from the other eight branches',
  );
});
