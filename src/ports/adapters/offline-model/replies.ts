import type {
  AdherencePeriod,
  AssistantContext,
  ChatMessage,
  LanguageModelRequest,
  ToolCall,
  UpcomingDose,
  UserMessage,
} from '../../language-model.js';
import { clip, describeWhen, joinList, localTime, medicationLabel, parseInstant, plural, safeTimeZone } from './format.js';
import { detectIntent, normalise, type Intent } from './intents.js';

/** Every answer starts with this, so a reader of the transcript alone knows no AI model wrote it. */
export const OFFLINE_LABEL = '(Offline assistant)';

export interface OfflineReply {
  /** Never empty. */
  text: string;
  toolCall?: ToolCall;
  /** For logs: which rule answered (never the message text). */
  intent: string;
}

const CAPABILITIES =
  'I can only help with a few things here: your next dose, your medication plan, how many doses you have taken recently, noting a symptom for your care team, or asking them for help.';
const NO_CONTEXT = "I don't have your medication plan at the moment, so I can't answer that. Please check the app or ask your care team.";
const EMERGENCY_ADVICE = 'This sounds like an emergency. Call your local emergency number now.';

export function composeReply(request: LanguageModelRequest): OfflineReply {
  const results = trailingToolResults(request.messages);
  // The second half of an answer whose first half (with the tool call) carried the label already.
  if (results.length > 0) return { text: results.map(describeOutcome).join(' '), intent: 'tool_result' };
  const message = lastUserMessage(request.messages);
  if (message === undefined) return labelled({ text: CAPABILITIES }, 'capabilities');
  const intent = detectIntent(message);
  return labelled(answer(intent, message, request), intent.kind);
}

type Answer = { text: string; toolCall?: ToolCall };

function labelled(reply: Answer, intent: string): OfflineReply {
  return { ...reply, text: `${OFFLINE_LABEL} ${reply.text}`, intent };
}

function answer(intent: Intent, message: string, request: LanguageModelRequest): Answer {
  const context = request.context;
  switch (intent.kind) {
    case 'emergency':
      return emergency(message, request);
    case 'help':
      return help(intent.urgency, message, request);
    case 'symptom':
      return symptom(intent.symptom, intent.severity, message, request);
    case 'took':
      return took(message, request);
    case 'next_dose':
      return { text: context ? nextDose(context, message) : NO_CONTEXT };
    case 'adherence':
      return { text: context ? adherence(context) : NO_CONTEXT };
    case 'plan':
      return { text: context ? plan(context) : NO_CONTEXT };
    case 'summary':
      return { text: context ? `${adherence(context)} ${nextDose(context, '')}` : NO_CONTEXT };
    case 'greeting':
      return { text: `Hello${context?.patientName ? ` ${context.patientName}` : ''}. ${CAPABILITIES}` };
    case 'thanks':
      return { text: "You're welcome." };
    case 'capabilities':
    case 'unknown':
      return { text: CAPABILITIES };
  }
}

// --- Actions: the same tool path as a real model, when the chat layer offers the tool ---------------

function emergency(message: string, request: LanguageModelRequest): Answer {
  if (!offers(request, 'request_help')) return { text: `${EMERGENCY_ADVICE} I can't contact your care team from here.` };
  return {
    text: `${EMERGENCY_ADVICE} I'm also alerting your care team.`,
    toolCall: toolCall(request, 'request_help', { urgency: 'emergency', reason: reasonFrom(message) }),
  };
}

function help(urgency: 'routine' | 'urgent', message: string, request: LanguageModelRequest): Answer {
  if (!offers(request, 'request_help')) return { text: "I can't reach your care team from here. Please call them directly." };
  return { text: "I'm asking your care team to get in touch with you.", toolCall: toolCall(request, 'request_help', { urgency, reason: reasonFrom(message) }) };
}

function symptom(name: string, severity: 'mild' | 'moderate' | 'severe', message: string, request: LanguageModelRequest): Answer {
  const worse = severity === 'severe' ? ' If it gets worse or you feel unsafe, ask for help or call your local emergency number.' : '';
  if (!offers(request, 'log_symptom')) return { text: `I can't record symptoms right now. Please tell your care team about the ${name}.${worse}` };
  return {
    text: `I'll note the ${name} for your care team.${worse}`,
    toolCall: toolCall(request, 'log_symptom', { symptom: name, severity, notes: clip(message, 1000) }),
  };
}

/** Records the dose of the one medication of the plan the message names; asks which one otherwise. */
function took(message: string, request: LanguageModelRequest): Answer {
  if (!offers(request, 'confirm_dose')) return { text: "I can't record doses from here. Please confirm it in the app." };
  const names = (request.context?.medications ?? []).map((medication) => medication.name);
  if (names.length === 0) return { text: "I don't have your medication plan, so I can't record that dose. Please confirm it in the app." };
  const text = normalise(message);
  const named = names.filter((name) => text.includes(normalise(name)));
  if (named.length !== 1) return { text: `Which medication did you take: ${joinList(names)}?` };
  return { text: `I'll record your ${named[0]} as taken.`, toolCall: toolCall(request, 'confirm_dose', { medication: named[0] }) };
}

function reasonFrom(message: string): string {
  // Whoever wrote it (the patient, or someone of the care team): the report records who.
  return clip(`Written in the assistant chat: ${message}`, 500);
}

function offers(request: LanguageModelRequest, name: string): boolean {
  return request.tools?.some((tool) => tool.name === name) ?? false;
}

/** Ids are derived from the conversation length, so the same request gives the same reply. */
function toolCall(request: LanguageModelRequest, name: string, args: Record<string, unknown>): ToolCall {
  return { id: `call_offline_${request.messages.length}`, name, arguments: JSON.stringify(args) };
}

// --- After the chat layer ran our tool call ----------------------------------------------------------

interface ToolOutcome {
  call: ToolCall | undefined;
  ok: boolean;
  /** The tool's result, parsed ({} when it is not a JSON object). */
  result: Record<string, unknown>;
}

function trailingToolResults(messages: readonly ChatMessage[]): ToolOutcome[] {
  const outcomes: ToolOutcome[] = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'tool') break;
    outcomes.unshift({ call: findCall(messages, message.toolCallId), ok: succeeded(message.content), result: parseArgs(message.content) });
  }
  return outcomes;
}

function findCall(messages: readonly ChatMessage[], id: string): ToolCall | undefined {
  for (const message of messages) {
    if (message.role === 'assistant') {
      const call = message.toolCalls?.find((candidate) => candidate.id === id);
      if (call) return call;
    }
  }
  return undefined;
}

/** Tool results follow the port's convention `{"ok":false,"error":…}` on failure; anything else is success. */
function succeeded(content: string): boolean {
  try {
    const value = JSON.parse(content) as unknown;
    if (value === null || typeof value !== 'object') return true;
    return (value as { ok?: unknown }).ok !== false && !('error' in value);
  } catch {
    return true;
  }
}

function describeOutcome({ call, ok, result }: ToolOutcome): string {
  const args = parseArgs(call?.arguments);
  switch (call?.name) {
    case 'request_help': {
      const emergencyNote = args['urgency'] === 'emergency' ? ' If you are in danger, call your local emergency number now.' : '';
      return ok
        ? `Your care team has been alerted.${emergencyNote}`
        : `I could not alert your care team. Please call them directly, or your local emergency number if it is urgent.`;
    }
    case 'log_symptom': {
      const name = typeof args['symptom'] === 'string' ? args['symptom'] : 'symptom';
      return ok ? `I've noted the ${name} for your care team.` : `I couldn't record the ${name}. Please tell your care team directly.`;
    }
    case 'confirm_dose': {
      // The executor's message is written for people ("Recorded: the Metformin dose due … was taken").
      if (ok) return typeof result['message'] === 'string' ? result['message'] : 'Your dose is recorded.';
      const reason = (result['error'] as { code?: unknown } | undefined)?.code;
      return reason === 'conflict'
        ? "I couldn't find a dose of that medication due now, so nothing was recorded. Please check the app."
        : "I couldn't record that dose. Please confirm it in the app or tell your care team.";
    }
    default:
      return ok ? 'Done.' : "That didn't work. Please try again later.";
  }
}

function parseArgs(json: string | undefined): Record<string, unknown> {
  try {
    const value = JSON.parse(json ?? '{}') as unknown;
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function lastUserMessage(messages: readonly ChatMessage[]): string | undefined {
  const message = messages.findLast((candidate): candidate is UserMessage => candidate.role === 'user' && candidate.content.trim() !== '');
  return message?.content;
}

// --- Answers from the context --------------------------------------------------------------------------

function nextDose(context: AssistantContext, message: string): string {
  const zone = safeTimeZone(context.timeZone);
  const now = parseInstant(context.now) ?? new Date();
  const mentioned = mentionedMedication(context, message);
  const doses = sortedDoses(context.upcomingDoses).filter(({ dose }) => !mentioned || normalise(dose.medicationName) === mentioned);
  const first = doses[0];
  if (!first) return mentioned ? `I don't see an upcoming dose of ${titleOf(context, mentioned)} in your plan.` : 'You have no upcoming doses scheduled.';
  const together = doses.filter(({ at }) => at.getTime() === first.at.getTime()).map(({ dose }) => medicationLabel(dose.medicationName, dose.strength));
  const what = joinList(together);
  if (first.at.getTime() <= now.getTime()) {
    return `${together.length > 1 ? `Your doses of ${what} from ${localTime(first.at, zone)} are` : `Your ${what} dose from ${localTime(first.at, zone)} is`} due now.`;
  }
  return `Your next ${together.length > 1 ? 'doses are' : 'dose is'} ${what} ${describeWhen(first.at, now, zone)}.`;
}

function sortedDoses(doses: readonly UpcomingDose[]): Array<{ dose: UpcomingDose; at: Date }> {
  return doses
    .flatMap((dose) => {
      const at = parseInstant(dose.dueAt);
      return at ? [{ dose, at }] : [];
    })
    .sort((a, b) => a.at.getTime() - b.at.getTime() || a.dose.medicationName.localeCompare(b.dose.medicationName));
}

/** The normalised name of a medication the message mentions, if any. */
function mentionedMedication(context: AssistantContext, message: string): string | undefined {
  const text = normalise(message);
  const names = [...context.medications.map((m) => m.name), ...context.upcomingDoses.map((d) => d.medicationName)].map(normalise);
  return names.find((name) => name !== '' && text.includes(name));
}

function titleOf(context: AssistantContext, normalisedName: string): string {
  return context.medications.find((m) => normalise(m.name) === normalisedName)?.name ?? normalisedName;
}

const PERIOD_LABEL: Record<AdherencePeriod, [sentenceStart: string, inSentence: string]> = {
  today: ['Today', 'today'],
  yesterday: ['Yesterday', 'yesterday'],
  this_week: ['This week', 'this week'],
  last_7_days: ['In the last 7 days', 'in the last 7 days'],
  last_30_days: ['In the last 30 days', 'in the last 30 days'],
};

function adherence(context: AssistantContext): string {
  const summary = context.adherence;
  if (!summary) return "I don't have a record of your recent doses yet.";
  const [start, inSentence] = PERIOD_LABEL[summary.period] ?? PERIOD_LABEL.last_7_days;
  if (summary.scheduled <= 0) return `No doses were due ${inSentence}.`;
  const percent = Math.round((summary.taken / summary.scheduled) * 100);
  const parts = [`${start} you took ${summary.taken} of ${plural(summary.scheduled, 'dose')} (${percent}%).`];
  if (summary.missed) parts.push(`${plural(summary.missed, 'dose')} ${summary.missed === 1 ? 'was' : 'were'} missed.`);
  // ARCHITECTURE §4: a dose the offline dispenser could not report is unknown, never "missed".
  if (summary.unknown) parts.push(`For ${plural(summary.unknown, 'dose')} there is no record, because your dispenser was offline.`);
  return parts.join(' ');
}

function plan(context: AssistantContext): string {
  if (context.medications.length === 0) return 'You have no medications in your plan.';
  const items = context.medications.map((m) => {
    const times = m.times.length > 0 ? ` at ${joinList(m.times)}` : '';
    const note = m.instructions ? ` (${m.instructions})` : '';
    return `${medicationLabel(m.name, m.strength)}${times}${note}`;
  });
  return `Your plan: ${items.join('; ')}.`;
}
