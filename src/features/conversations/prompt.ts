/**
 * The context a turn sends to the language model: a system prompt rendered from the template file
 * `prompts/system.md` plus the patient's facts (plan, upcoming doses, adherence) within a token budget,
 * then as much recent history as fits, then the new user message.
 *
 * Token counts are estimated (about 4 characters per token, plus a few per message), which is close
 * enough for English with GPT-family tokenizers and errs on the generous side; the budget leaves room
 * for the answer (`answerTokens`, also sent as the request's `maxTokens`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AdherenceSummary, AssistantContext, ChatMessage, PlannedMedication, UpcomingDose } from '../../ports/language-model.js';
import { packageRoot } from '../../paths.js';

export interface ContextBudget {
  /** Everything sent plus the answer must fit in this many tokens. */
  contextTokens: number;
  /** Reserved for the answer; sent as `maxTokens`. */
  answerTokens: number;
  /** At most this much of the system prompt is facts; lists are cut with "…and N more". */
  factsTokens: number;
  /** History is read from the newest back, at most this many messages. */
  historyMessages: number;
}

export const DEFAULT_BUDGET: ContextBudget = { contextTokens: 8000, answerTokens: 1000, factsTokens: 1500, historyMessages: 40 };

const PLACEHOLDERS = ['audience', 'patientName', 'timeZone', 'now', 'capabilities', 'facts'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** A checked template: every `{{name}}` in it is one this module fills. */
export interface PromptTemplate {
  readonly source: string;
  readonly path: string;
}

/**
 * Reads the template. Under tsx it sits next to this file; after `tsc` (dist/) it is read from the
 * package's src/ folder. Throws at boot when it is missing or names an unknown placeholder.
 */
export function loadPromptTemplate(path?: string): PromptTemplate {
  const candidates = path
    ? [path]
    : [fileURLToPath(new URL('./prompts/system.md', import.meta.url)), join(packageRoot, 'src/features/conversations/prompts/system.md')];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`The assistant's prompt template is missing (looked in ${candidates.join(', ')})`);
  const source = readFileSync(found, 'utf8');
  const unknown = [...source.matchAll(/\{\{\s*([A-Za-z]+)\s*\}\}/g)].map((m) => m[1] as string).filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`${found}: unknown placeholders ${[...new Set(unknown)].join(', ')}`);
  return { source, path: found };
}

export function renderTemplate(template: PromptTemplate, values: Record<Placeholder, string>): string {
  return template.source.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_match, name: string) => values[name as Placeholder]).trim();
}

/** Rough token count: ~4 characters per token. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Per-message overhead in the chat format (role, separators). */
const MESSAGE_OVERHEAD = 4;

export function messageTokens(message: ChatMessage): number {
  const toolCalls = message.role === 'assistant' ? (message.toolCalls ?? []).reduce((sum, call) => sum + estimateTokens(call.name + call.arguments) + 8, 0) : 0;
  return MESSAGE_OVERHEAD + estimateTokens(message.content ?? '') + toolCalls;
}

export function totalTokens(messages: readonly ChatMessage[]): number {
  return messages.reduce((sum, message) => sum + messageTokens(message), 0);
}

// ---------------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------------

export interface Facts {
  patientName: string;
  timeZone: string;
  now: Date;
  /** Null: no plan recorded. */
  plan: PlannedMedication[] | null;
  upcomingDoses: UpcomingDose[];
  adherence: AdherenceSummary | null;
}

export const NO_PLAN_TEXT = 'No medication plan is recorded yet. If asked about medications, doses or adherence, say that no plan is recorded yet and suggest asking the care team; do not guess.';

/** The facts as prompt text, cut to `maxTokens` (whole lines only; cut lists say how much was left out). */
export function describeFacts(facts: Facts, maxTokens: number): string {
  const sections: Array<{ title: string; lines: string[] }> = [];
  if (facts.plan === null) return NO_PLAN_TEXT;
  sections.push({
    title: 'Medication plan:',
    lines: facts.plan.length === 0 ? ['- (no medications in the plan)'] : facts.plan.map((m) => `- ${medication(m)}`),
  });
  sections.push({
    title: "Upcoming doses (patient's local time):",
    lines: facts.upcomingDoses.length === 0 ? ['- (none scheduled)'] : facts.upcomingDoses.map((d) => `- ${d.medicationName}${d.strength ? ` ${d.strength}` : ''}: ${localDateTime(d.dueAt, facts.timeZone)}`),
  });
  sections.push({ title: 'Adherence:', lines: [facts.adherence ? `- ${adherenceLine(facts.adherence)}` : '- No dose records yet.'] });

  // Titles and each list's first line always fit in; the rest is added while the budget allows.
  const out: string[][] = sections.map((section) => [section.title, ...section.lines.slice(0, 1)]);
  let used = estimateTokens(out.flat().join('\n'));
  sections.forEach((section, i) => {
    const kept = out[i] as string[];
    let omitted = 0;
    for (const line of section.lines.slice(1)) {
      const cost = estimateTokens(line) + 1;
      if (omitted === 0 && used + cost <= maxTokens) {
        kept.push(line);
        used += cost;
      } else omitted += 1;
    }
    if (omitted > 0) kept.push(`- …and ${omitted} more not shown.`);
  });
  return out.map((lines) => lines.join('\n')).join('\n\n');
}

function medication(m: PlannedMedication): string {
  const times = m.times.length > 0 ? ` at ${m.times.join(', ')}` : '';
  return `${m.name}${m.strength ? ` ${m.strength}` : ''}${times}${m.instructions ? ` (${m.instructions})` : ''}`;
}

function adherenceLine(a: AdherenceSummary): string {
  const period = a.period.replace(/_/g, ' ');
  const parts = [`${period}: ${a.taken} of ${a.scheduled} scheduled doses taken`];
  if (a.missed) parts.push(`${a.missed} missed`);
  if (a.unknown) parts.push(`${a.unknown} unknown (dispenser offline; not missed)`);
  return parts.join(', ');
}

export function localDateTime(instant: string | Date, timeZone: string): string {
  const date = instant instanceof Date ? instant : new Date(instant);
  if (Number.isNaN(date.getTime())) return String(instant);
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
  } catch {
    return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  }
}

/** For the offline model, which answers from plain data; undefined when no plan is recorded (it then says so). */
export function assistantContext(facts: Facts): AssistantContext | undefined {
  if (facts.plan === null) return undefined;
  return {
    now: facts.now.toISOString(),
    timeZone: facts.timeZone,
    patientName: facts.patientName,
    medications: facts.plan,
    upcomingDoses: facts.upcomingDoses,
    ...(facts.adherence ? { adherence: facts.adherence } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// The whole request
// ---------------------------------------------------------------------------------------------------

export interface PromptInput {
  template: PromptTemplate;
  budget: ContextBudget;
  facts: Facts;
  audience: string;
  capabilities: string;
  /** Earlier messages, oldest first. */
  history: ChatMessage[];
  userMessage: string;
}

export interface BuiltPrompt {
  messages: ChatMessage[];
  /** History messages left out to fit the budget. */
  droppedHistory: number;
  estimatedTokens: number;
}

/** The system prompt alone: the template with who is talking, the patient's facts and the capabilities. */
export function renderSystemPrompt(input: Omit<PromptInput, 'history' | 'userMessage'>): string {
  const { budget, facts } = input;
  return renderTemplate(input.template, {
    audience: input.audience,
    patientName: facts.patientName,
    timeZone: facts.timeZone,
    now: localDateTime(facts.now, facts.timeZone),
    capabilities: input.capabilities,
    facts: describeFacts(facts, budget.factsTokens),
  });
}

export function buildPrompt(input: PromptInput): BuiltPrompt {
  const { budget } = input;
  const system: ChatMessage = { role: 'system', content: renderSystemPrompt(input) };
  const user: ChatMessage = { role: 'user', content: input.userMessage };
  const fixed = messageTokens(system) + messageTokens(user);
  let room = budget.contextTokens - budget.answerTokens - fixed;
  const kept: ChatMessage[] = [];
  const recent = input.history.slice(-budget.historyMessages);
  for (let i = recent.length - 1; i >= 0; i--) {
    const message = recent[i] as ChatMessage;
    const cost = messageTokens(message);
    if (cost > room) break;
    kept.unshift(message);
    room -= cost;
  }
  // A history that starts with an answer reads oddly to models; start at a user message.
  while (kept[0]?.role === 'assistant') kept.shift();
  const messages = [system, ...kept, user];
  return { messages, droppedHistory: input.history.length - kept.length, estimatedTokens: totalTokens(messages) };
}
