import t from 'tap';
import { OfflineLanguageModel, OFFLINE_LABEL, OFFLINE_MODEL_ID } from '../../src/ports/adapters/offline-model/index.js';
import {
  complete,
  LanguageModelError,
  type AssistantContext,
  type ChatMessage,
  type LanguageModelEvent,
  type LanguageModelRequest,
} from '../../src/ports/language-model.js';
import { ToolRegistry } from '../../src/ports/tool-registry.js';

const registry = ToolRegistry.load();
const model = new OfflineLanguageModel();

/** Monday 10 March 2025, 13:00 in Berlin (CET, UTC+1). */
const context: AssistantContext = {
  now: '2025-03-10T12:00:00Z',
  timeZone: 'Europe/Berlin',
  patientName: 'Anna',
  medications: [
    { id: 'med-1', name: 'Metformin', strength: '500 mg', times: ['08:00', '20:00'], instructions: 'with food' },
    { id: 'med-2', name: 'Lisinopril', strength: '10 mg', times: ['08:00'] },
  ],
  upcomingDoses: [
    { occurrenceId: 'occ-2', medicationId: 'med-2', medicationName: 'Lisinopril', strength: '10 mg', dueAt: '2025-03-11T07:00:00Z' },
    { occurrenceId: 'occ-1', medicationId: 'med-1', medicationName: 'Metformin', strength: '500 mg', dueAt: '2025-03-10T19:00:00Z' },
  ],
  adherence: { period: 'this_week', scheduled: 14, taken: 12 },
};

function ask(content: string, extra: Partial<LanguageModelRequest> = {}): LanguageModelRequest {
  return { messages: [{ role: 'user', content }], context, tools: registry.definitions(), signal: new AbortController().signal, ...extra };
}

async function events(request: LanguageModelRequest): Promise<LanguageModelEvent[]> {
  const seen: LanguageModelEvent[] = [];
  for await (const event of model.stream(request)) seen.push(event);
  return seen;
}

async function answer(request: LanguageModelRequest): Promise<string> {
  return (await complete(model, request)).text;
}

t.test('is labelled offline', async (t) => {
  t.equal(model.offline, true);
  t.equal(model.name, 'offline');
  t.equal(model.defaultModel, OFFLINE_MODEL_ID);
  const result = await complete(model, ask('When is my next dose?'));
  t.equal(result.offline, true);
  t.equal(result.model, OFFLINE_MODEL_ID);
  t.ok(result.text.startsWith(`${OFFLINE_LABEL} `), 'the answer itself says it is the offline assistant');
});

t.test('answers the next dose from the context, in the patient zone', async (t) => {
  t.equal(await answer(ask('When is my next dose?')), `${OFFLINE_LABEL} Your next dose is Metformin 500 mg at 20:00.`);
  t.equal(await answer(ask('when do I take my lisinopril')), `${OFFLINE_LABEL} Your next dose is Lisinopril 10 mg tomorrow at 08:00.`);
  const later = { ...context, now: '2025-03-10T20:00:00Z' };
  t.equal(await answer(ask("What's due?", { context: later })), `${OFFLINE_LABEL} Your Metformin 500 mg dose from 20:00 is due now.`);
  const newYork = { ...context, timeZone: 'America/New_York' };
  t.equal(await answer(ask('next dose?', { context: newYork })), `${OFFLINE_LABEL} Your next dose is Metformin 500 mg at 15:00.`);
  const none = { ...context, upcomingDoses: [] };
  t.equal(await answer(ask('next dose?', { context: none })), `${OFFLINE_LABEL} You have no upcoming doses scheduled.`);
});

t.test('answers adherence, saying unknown doses are not missed', async (t) => {
  t.equal(await answer(ask('How am I doing this week?')), `${OFFLINE_LABEL} This week you took 12 of 14 doses (86%).`);
  const mixed = { ...context, adherence: { period: 'last_7_days' as const, scheduled: 14, taken: 11, missed: 1, unknown: 2 } };
  t.equal(
    await answer(ask('Have I missed any?', { context: mixed })),
    `${OFFLINE_LABEL} In the last 7 days you took 11 of 14 doses (79%). 1 dose was missed. For 2 doses there is no record, because your dispenser was offline.`,
  );
});

t.test('answers the medication plan', async (t) => {
  t.equal(await answer(ask('What medications do I take?')), `${OFFLINE_LABEL} Your plan: Metformin 500 mg at 08:00 and 20:00 (with food); Lisinopril 10 mg at 08:00.`);
  t.equal(await answer(ask('Can you help me with my plan?')), `${OFFLINE_LABEL} Your plan: Metformin 500 mg at 08:00 and 20:00 (with food); Lisinopril 10 mg at 08:00.`, 'a question about the plan does not alert anyone');
});

t.test('is deterministic', async (t) => {
  for (const question of ['When is my next dose?', 'I have a terrible headache', 'Help, I fell down', 'hmm']) {
    t.same(await events(ask(question)), await events(ask(question)), question);
  }
});

t.test('streams the answer word by word', async (t) => {
  const seen = await events(ask('When is my next dose?'));
  const tokens = seen.flatMap((e) => (e.type === 'token' ? [e.text] : []));
  t.same(tokens, ['(Offline', ' assistant)', ' Your', ' next', ' dose', ' is', ' Metformin', ' 500', ' mg', ' at', ' 20:00.']);
  t.same(seen.at(-1), { type: 'done', finishReason: 'stop', model: OFFLINE_MODEL_ID });
});

t.test('a symptom becomes a log_symptom tool call that validates against the schema', async (t) => {
  const seen = await events(ask('I have a terrible headache since this morning'));
  const call = seen.find((e) => e.type === 'tool_call');
  t.ok(call?.type === 'tool_call');
  if (call?.type !== 'tool_call') return;
  t.equal(call.name, 'log_symptom');
  const parsed = registry.parseArguments(call.name, call.arguments);
  t.ok(parsed.ok, 'arguments validate');
  t.match(parsed.ok && parsed.arguments, { symptom: 'headache', severity: 'severe', notes: 'I have a terrible headache since this morning' });
  t.match(seen.at(-1), { type: 'done', finishReason: 'tool_calls' });
  t.ok(seen.findIndex((e) => e.type === 'tool_call') > seen.findLastIndex((e) => e.type === 'token'), 'the tool call follows the text');

  const mild = await complete(model, ask('I feel a bit dizzy'));
  t.match(JSON.parse(mild.toolCalls[0]?.arguments ?? '{}'), { symptom: 'dizziness', severity: 'mild' });
});

t.test('help and emergencies become request_help tool calls', async (t) => {
  const fall = await complete(model, ask('Help, I fell down and my hip hurts'));
  t.match(fall.text, 'Call your local emergency number now');
  t.equal(fall.toolCalls[0]?.name, 'request_help');
  const fallArgs = registry.parseArguments('request_help', fall.toolCalls[0]?.arguments ?? '');
  t.ok(fallArgs.ok);
  t.match(fallArgs.ok && fallArgs.arguments, { urgency: 'emergency' });

  const routine = await complete(model, ask('I need help with something, please'));
  t.match(JSON.parse(routine.toolCalls[0]?.arguments ?? '{}'), { urgency: 'routine' });
  const urgent = await complete(model, ask('Please call my daughter right away'));
  t.match(JSON.parse(urgent.toolCalls[0]?.arguments ?? '{}'), { urgency: 'urgent' });

  const long = await complete(model, ask(`I need help ${'because it is all too much '.repeat(40)}`));
  t.ok(registry.parseArguments('request_help', long.toolCalls[0]?.arguments ?? '').ok, 'a long message is clipped to the schema bound');
});

t.test('a dose the patient says they took becomes a confirm_dose call for the medication named', async (t) => {
  const took = await complete(model, ask("I've just taken my lisinopril"));
  t.equal(took.toolCalls[0]?.name, 'confirm_dose');
  const args = registry.parseArguments('confirm_dose', took.toolCalls[0]?.arguments ?? '');
  t.ok(args.ok);
  t.same(args.ok && args.arguments, { medication: 'Lisinopril' });
  const unnamed = await complete(model, ask('I took my pills'));
  t.same(unnamed.toolCalls, [], 'no medication named: no call');
  t.match(unnamed.text, 'Which medication did you take: Metformin and Lisinopril?');
  for (const doubt of ["I don't think I took my metformin", "I'm not sure I took my Metformin", 'I took my metformin?', 'I forgot whether I took my lisinopril', 'I doubt I took my metformin', 'Probably I took my metformin already', 'I believe I took my lisinopril', 'I took none today']) {
    t.same((await complete(model, ask(doubt))).toolCalls, [], `no confirmation from "${doubt}"`);
  }
  const question = await complete(model, ask('Did I take my metformin today?'));
  t.same(question.toolCalls, [], 'a question is not a confirmation');
  for (const overdose of ['I took my metformin twice', 'I took too much metformin', 'I took double my metformin', 'I took my lisinopril again', "I've taken my metformin twice", 'I took my blood pressure pills twice', 'I took a second dose', 'I accidentally took my metformin twice', 'I took way too much metformin', 'I had two doses of metformin by mistake']) {
    t.equal((await complete(model, ask(overdose))).toolCalls[0]?.name, 'request_help', `an emergency first: "${overdose}"`);
  }
  for (const another of ['I took my Metformin yesterday', 'I took my metformin this morning', 'I took my metformin in the morning', 'I took my lisinopril 2 hours ago', 'I took my metformin at 8']) {
    t.same((await complete(model, ask(another))).toolCalls, [], `another time, no confirmation: "${another}"`);
  }
  t.equal((await complete(model, ask('I took my morning metformin'))).toolCalls[0]?.name, 'confirm_dose', 'a dose named by its time of day is recorded');
  t.equal((await complete(model, ask('I took my second metformin of the day'))).toolCalls[0]?.name, 'confirm_dose', 'the second dose of a twice-daily plan is a dose');
  for (const notEmergency of ["I've been sleeping too much", 'The pharmacy gave me double the pills', 'I had too much coffee']) {
    t.not((await complete(model, ask(notEmergency))).toolCalls[0]?.arguments.includes('emergency'), true, `no emergency: "${notEmergency}"`);
  }

  const call = took.toolCalls[0];
  if (!call) return;
  const after = (result: string) => complete(model, ask('', { messages: [{ role: 'user', content: "I've just taken my lisinopril" }, { role: 'assistant', content: took.text, toolCalls: [call] }, { role: 'tool', toolCallId: call.id, content: result }] }));
  t.match((await after('{"ok":true,"message":"Recorded: the Lisinopril dose due at 08:00 was taken."}')).text, 'Recorded: the Lisinopril dose due at 08:00 was taken.');
  t.match((await after('{"ok":false,"error":{"code":"conflict","message":"No dose of Lisinopril is due now"}}')).text, "couldn't find a dose of that medication due now");
});

t.test('without the tool on offer it answers in text instead', async (t) => {
  const readOnly = registry.definitions({ mutates: false });
  const emergency = await complete(model, ask('I have chest pain', { tools: readOnly }));
  t.same(emergency.toolCalls, []);
  t.match(emergency.text, 'Call your local emergency number now');
  t.equal(emergency.finishReason, 'stop');
  const symptom = await complete(model, ask('I feel nauseous', { tools: undefined }));
  t.same(symptom.toolCalls, []);
  t.match(symptom.text, 'tell your care team about the nausea');
});

t.test('after the tool ran it confirms, or says it failed', async (t) => {
  const first = await complete(model, ask('Help, I fell'));
  const call = first.toolCalls[0];
  if (!call) return t.fail('expected a tool call');
  const history = (result: string): ChatMessage[] => [
    { role: 'user', content: 'Help, I fell' },
    { role: 'assistant', content: first.text, toolCalls: [call] },
    { role: 'tool', toolCallId: call.id, content: result },
  ];
  const ok = await complete(model, ask('', { messages: history('{"ok":true,"alertId":"a1"}') }));
  t.equal(ok.text, 'Your care team has been alerted. If you are in danger, call your local emergency number now.', 'unlabelled: it follows the first half of the answer, which was');
  t.ok(first.text.startsWith(OFFLINE_LABEL));
  t.same(ok.toolCalls, [], 'no second call: the loop ends');
  const failed = await complete(model, ask('', { messages: history('{"ok":false,"error":{"code":"not_available","message":"Alerts are not wired yet"}}') }));
  t.match(failed.text, 'I could not alert your care team');
});

t.test('never crashes and never answers empty', async (t) => {
  const odd: LanguageModelRequest[] = [
    ask('asdf qwerty'),
    ask(''),
    ask('   '),
    ask('When is my next dose?', { context: undefined }),
    ask('How am I doing?', { context: { ...context, adherence: undefined } }),
    ask('next dose', { context: { ...context, timeZone: 'Not/AZone', now: 'yesterday-ish' } }),
    ask('next dose', { context: { ...context, upcomingDoses: [{ occurrenceId: 'x', medicationId: 'y', medicationName: '', dueAt: 'never' }] } }),
    ask('how am i doing', { context: { ...context, adherence: { period: 'this_week', scheduled: 0, taken: 0 } } }),
    { messages: [], signal: new AbortController().signal },
    { messages: [{ role: 'system', content: 'You are helpful.' }], signal: new AbortController().signal },
    { messages: [{ role: 'tool', toolCallId: 'unknown', content: 'not json' }], signal: new AbortController().signal },
    ask('💊'.repeat(500)),
  ];
  for (const [i, request] of odd.entries()) {
    const result = await complete(model, request);
    // An answer to a tool's result continues one that carried the label already.
    const label = request.messages.at(-1)?.role === 'tool' ? '' : OFFLINE_LABEL;
    t.ok(result.text.startsWith(label) && result.text.length >= label.length + 5, `request ${i} got a real answer`);
  }
  t.match(await answer(ask('asdf qwerty')), 'your next dose, your medication plan', 'the fallback explains what it can answer');
});

t.test('honours cancellation', async (t) => {
  const controller = new AbortController();
  const seen: LanguageModelEvent[] = [];
  const slow = new OfflineLanguageModel({ tokenDelayMs: 5 });
  try {
    for await (const event of slow.stream(ask('What medications do I take?', { signal: controller.signal }))) {
      seen.push(event);
      if (seen.length === 3) controller.abort();
    }
    t.fail('expected cancellation');
  } catch (error) {
    t.ok(error instanceof LanguageModelError && error.code === 'cancelled');
  }
  t.equal(seen.length, 3);
});
