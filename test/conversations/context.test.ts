/**
 * The context a turn sends: the system prompt from the template file plus the patient's facts within
 * a token budget, history trimmed to fit; and the tools answering from facts once a plan exists (the
 * plans/doses features will supply them through the PatientFacts port), with the caller's permissions.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { OfflineLanguageModel } from '../../src/ports/adapters/offline-model/index.js';
import { complete, type ChatMessage } from '../../src/ports/language-model.js';
import { ToolRegistry } from '../../src/ports/tool-registry.js';
import type { PatientFacts } from '../../src/features/conversations/facts.js';
import { assistantContext, buildPrompt, DEFAULT_BUDGET, describeFacts, estimateTokens, loadPromptTemplate, NO_PLAN_TEXT, type Facts } from '../../src/features/conversations/prompt.js';
import { createToolExecutor } from '../../src/features/intents/executor.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

const template = loadPromptTemplate();
const now = new Date('2026-03-10T15:00:00Z');

const planFacts: Facts = {
  patientName: 'Alice',
  timeZone: 'Europe/Paris',
  now,
  plan: [
    { id: 'm1', name: 'Metformin', strength: '500 mg', times: ['08:00', '20:00'], instructions: 'with food' },
    { id: 'm2', name: 'Lisinopril', strength: '10 mg', times: ['08:00'] },
  ],
  upcomingDoses: [
    { occurrenceId: 'o1', medicationId: 'm1', medicationName: 'Metformin', strength: '500 mg', dueAt: '2026-03-10T19:00:00Z' },
    { occurrenceId: 'o2', medicationId: 'm2', medicationName: 'Lisinopril', strength: '10 mg', dueAt: '2026-03-11T07:00:00Z' },
  ],
  adherence: { period: 'last_7_days', scheduled: 14, taken: 12, missed: 1, unknown: 1 },
};

t.test('the system prompt comes from the template, with the facts or an honest "nothing recorded"', async (t) => {
  const built = buildPrompt({ template, budget: DEFAULT_BUDGET, facts: planFacts, audience: 'the patient themself', capabilities: '- (capabilities)', history: [], userMessage: 'hi' });
  const system = built.messages[0]?.content ?? '';
  t.match(system, /talking with the patient themself about Alice's medication/);
  t.match(system, /Alice's local time \(Europe\/Paris\)/);
  t.match(system, /Current time: Tue, 10 Mar 2026, 16:00/, 'now, in the patient’s zone');
  t.match(system, /- Metformin 500 mg at 08:00, 20:00 \(with food\)/);
  t.match(system, /- Metformin 500 mg: Tue, 10 Mar 2026, 20:00/, 'upcoming doses in local time');
  t.match(system, /12 of 14 scheduled doses taken, 1 missed, 1 unknown \(dispenser offline; not missed\)/);
  t.notMatch(system, /\{\{/, 'every placeholder is filled');
  t.same(built.messages.at(-1), { role: 'user', content: 'hi' });

  const none = describeFacts({ ...planFacts, plan: null, upcomingDoses: [], adherence: null }, 1000);
  t.equal(none, NO_PLAN_TEXT);
  t.equal(assistantContext({ ...planFacts, plan: null }), undefined, 'the offline model is told nothing rather than an empty plan');
});

t.test('facts are cut to their budget, saying how much was left out', async (t) => {
  const many = Array.from({ length: 200 }, (_, i) => ({ id: `m${i}`, name: `Medication number ${i}`, strength: '1 mg', times: ['08:00'] }));
  const text = describeFacts({ ...planFacts, plan: many }, 300);
  t.ok(estimateTokens(text) <= 360, 'about the budget');
  t.match(text, /- Medication number 0 /, 'the first item always fits');
  t.match(text, /…and \d+ more not shown\./);
  t.match(text, /Adherence:/, 'every section keeps its title');
});

t.test('history is trimmed from the oldest to fit the budget', async (t) => {
  const history: ChatMessage[] = [];
  for (let i = 0; i < 30; i++) {
    history.push({ role: 'user', content: `question ${i} ${'x'.repeat(400)}` });
    history.push({ role: 'assistant', content: `answer ${i} ${'y'.repeat(400)}` });
  }
  const budget = { ...DEFAULT_BUDGET, contextTokens: 3000, answerTokens: 500 };
  const built = buildPrompt({ template, budget, facts: planFacts, audience: 'a caregiver', capabilities: '', history, userMessage: 'latest' });
  t.ok(built.estimatedTokens <= budget.contextTokens - budget.answerTokens, `fits: ${built.estimatedTokens} tokens`);
  t.ok(built.droppedHistory > 0 && built.droppedHistory < history.length);
  const kept = built.messages.slice(1, -1);
  t.equal(kept[0]?.role, 'user', 'starts at a user message');
  t.match(kept.at(-1)?.content, /^answer 29 /, 'keeps the most recent');
  t.same(built.messages.at(-1), { role: 'user', content: 'latest' });

  const capped = buildPrompt({ template, budget: { ...DEFAULT_BUDGET, historyMessages: 4 }, facts: planFacts, audience: 'a caregiver', capabilities: '', history, userMessage: 'latest' });
  t.equal(capped.messages.length, 6, 'at most historyMessages earlier messages');
});

t.test('a template with an unknown placeholder is refused at boot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medhub-prompt-'));
  writeFileSync(join(dir, 'bad.md'), 'Hello {{patientName}}, {{diagnosis}}');
  t.throws(() => loadPromptTemplate(join(dir, 'bad.md')), /unknown placeholders diagnosis/);
  t.throws(() => loadPromptTemplate(join(dir, 'missing.md')), /missing/);
});

t.test('with a plan, the offline model answers from it', async (t) => {
  const model = new OfflineLanguageModel();
  const answer = await complete(model, { messages: [{ role: 'user', content: 'When is my next dose?' }], context: assistantContext(planFacts), signal: new AbortController().signal });
  t.equal(answer.text, '(Offline assistant) Your next dose is Metformin 500 mg at 20:00.');
});

t.test('tools answer from the facts, with the caller’s permissions', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const facts: PatientFacts = {
    plan: async () => planFacts.plan,
    upcomingDoses: async () => planFacts.upcomingDoses,
    adherence: async (_patient, period) => (planFacts.adherence ? { ...planFacts.adherence, period } : null),
  };
  const { identity } = hub.features;
  const tools = createToolExecutor({ registry: ToolRegistry.load(), facts, policy: identity.policy, audit: identity.audit });
  const patient = { id: s.patient.id, organisationId: s.admin.organisationId, timeZone: 'Europe/Paris' };
  const principal = await identity.auth.authenticate(s.caregiver.token);
  const scope = { actor: { principal, via: 'http' as const }, patient, now, origin: { source: 'chat' as const } };
  const run = async (name: string, args: unknown, who = scope) => {
    const result = await tools.run({ id: 'c1', name, arguments: JSON.stringify(args) }, who);
    return { ...result, parsed: JSON.parse(result.result) as Record<string, unknown> };
  };

  t.same(tools.offered().map((tool) => tool.name), ['get_next_dose', 'get_adherence', 'get_medication_plan'], 'read-only tools only, without actions');
  t.match((await run('get_next_dose', {})).parsed, { ok: true, recorded: true, dueAtLocal: 'Tue, 10 Mar 2026, 20:00', doses: [{ medication: 'Metformin', strength: '500 mg' }] });
  t.match((await run('get_next_dose', { medication: 'lisinopril' })).parsed, { doses: [{ medication: 'Lisinopril' }] });
  t.match((await run('get_next_dose', { medication: 'aspirin' })).parsed, { ok: true, nextDose: null, message: /aspirin/ });
  t.match((await run('get_adherence', { range: 'today' })).parsed, { ok: true, range: 'today', taken: 12, missed: 1, unknown: 1, note: /unknown, not missed/ });
  t.match((await run('get_medication_plan', {})).parsed, { ok: true, medications: [{ name: 'Metformin' }, { name: 'Lisinopril' }] });

  const symptom = await run('log_symptom', { symptom: 'headache', severity: 'mild' });
  t.match(symptom, { ok: false, errorCode: 'not_available', parsed: { ok: false, error: { code: 'not_available' } } }, 'mutating tools do not run without actions');
  t.match(await run('delete_everything', {}), { ok: false, errorCode: 'unknown_tool' });
  const bad = await tools.run({ id: 'c2', name: 'get_adherence', arguments: '{"range":' }, scope);
  t.match(bad, { ok: false, errorCode: 'invalid_json' });

  const outsider = { ...scope, actor: { principal: await identity.auth.authenticate(s.outsider.token), via: 'http' as const } };
  t.match(await run('get_medication_plan', {}, outsider), { ok: false, errorCode: 'not_found' }, 'a caller who may not see the patient gets nothing');
  const entries = await identity.audit.model.find({ action: 'assistant.tool.get_medication_plan' }).lean();
  t.same(entries.map((e) => e.outcome).sort(), ['allowed', 'denied'], 'every tool call is audited');
});
