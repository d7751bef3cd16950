/**
 * docs/TOPICS.md is generated from the schemas and the topic table; this fails
 * when someone changed a schema and forgot `npx tsx scripts/gen-topics-doc.ts`.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { MARKER, renderTopicsDoc, TOPICS_DOC } from '../../scripts/gen-topics-doc.js';
import { TOPICS } from '../../firmware-sim/topics.js';

t.test('docs/TOPICS.md matches the schemas', async (t) => {
  const current = readFileSync(TOPICS_DOC, 'utf8');
  t.ok(current.indexOf(MARKER) > 0, 'a hand-written intro precedes the generated part');
  t.equal(renderTopicsDoc(current), current, 'regenerating changes nothing');
  for (const topic of TOPICS) t.match(current, `## v1/devices/{id}/${topic.name}`, `${topic.name} has a section`);
  for (const type of ['dose.taken', 'dose.missed', 'device.jam', 'refill.low', 'dispense_now', 'sync_time']) {
    t.match(current, `\`${type}\``, `${type} is documented`);
  }
});
