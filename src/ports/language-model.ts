/**
 * LanguageModel port: streaming chat completion, provider-neutral.
 *
 * Adapters: `adapters/openai` (OpenAI or any OpenAI-compatible server: vLLM, Ollama…) and
 * `adapters/offline-model` (deterministic, used when no API key is configured). `main.ts` picks one.
 *
 * ## Contract of `stream()`
 * - Events arrive in this order: zero or more `token`s, then zero or more `tool_call`s (each complete,
 *   arguments fully assembled), then exactly one `done`, which is always the last event.
 * - Failure: the iterator throws a {@link LanguageModelError} and no `done` follows. Tokens already
 *   yielded stay yielded; the caller decides what to show (e.g. keep the partial text, mark it failed).
 * - Cancellation: aborting `request.signal` closes the upstream request and the iterator throws
 *   `LanguageModelError` with code `cancelled`. Leaving the loop early (`break`, `return`) also closes
 *   the upstream request, without an error.
 * - Retries: adapters already retry transient failures *before the first event* (HTTP 408/409/429/5xx,
 *   connection errors, a stream that fails before its first chunk). `retryable` on the error says whether
 *   the same request may succeed if sent again later; once tokens were shown, resending is the caller's
 *   choice.
 * - A model may finish with no tokens and no tool calls (e.g. `finishReason: 'length'` with a tiny
 *   `maxTokens`). The offline model never does.
 *
 * ## Tools
 * `request.tools` are what the model may call this turn (build them with `tool-registry.ts`). A
 * `tool_call` carries `arguments` as the model's raw JSON text: validate it with
 * `ToolRegistry.parseArguments()` before running anything. To continue after a tool call, append the
 * assistant message (with `toolCalls`) and one `tool` message per call, then call `stream()` again.
 * Tool results are strings; by convention JSON `{"ok":true,…}` or `{"ok":false,"error":{code,message}}`.
 */

/** A chat message. Same roles as Chat Completions, with camelCase field names. */
export type ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage;

export interface SystemMessage {
  role: 'system';
  content: string;
}

export interface UserMessage {
  role: 'user';
  content: string;
}

export interface AssistantMessage {
  role: 'assistant';
  /** Null when the turn only called tools. */
  content: string | null;
  toolCalls?: readonly ToolCall[];
}

export interface ToolResultMessage {
  role: 'tool';
  /** The `id` of the tool call this answers. */
  toolCallId: string;
  content: string;
}

/** A complete tool call requested by the model. */
export interface ToolCall {
  id: string;
  name: string;
  /** JSON text exactly as the model produced it; may be invalid. Validate before use. */
  arguments: string;
}

/** A tool the model may call: name, description for the model, and JSON Schema for its arguments. */
export interface ToolDefinition {
  name: string;
  description: string;
  parameters: Readonly<Record<string, unknown>>;
}

export interface LanguageModelRequest {
  messages: readonly ChatMessage[];
  tools?: readonly ToolDefinition[];
  /** Overrides the adapter's default model for this request. */
  model?: string;
  /** Required: every call can be cancelled (client disconnect, shutdown, timeout). */
  signal: AbortSignal;
  maxTokens?: number;
  /**
   * Facts about the patient as plain data. The offline model answers from it; adapters that call a real
   * model ignore it (render what the model should know into a system message instead).
   */
  context?: AssistantContext;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type LanguageModelEvent =
  | { type: 'token'; text: string }
  | ({ type: 'tool_call' } & ToolCall)
  | { type: 'done'; finishReason: FinishReason; usage?: TokenUsage; model: string };

export interface LanguageModel {
  /** Short label for logs and the UI, e.g. `openai`, `vllm`, `offline`. */
  readonly name: string;
  /** True when answers come from the deterministic offline model; the UI labels them. */
  readonly offline: boolean;
  /** The model used when a request names none. */
  readonly defaultModel: string;
  stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent>;
}

// ---------------------------------------------------------------------------------------------------
// Context for the assistant (plain data; the chat feature fills it from the store)
// ---------------------------------------------------------------------------------------------------

/** What the assistant knows about the patient this turn. Small on purpose. */
export interface AssistantContext {
  /** Current instant (ISO 8601). Passed in so answers are deterministic and tests need no clock. */
  now: string;
  /** The patient's IANA time zone, e.g. `Europe/Berlin`. All times shown to the patient use it. */
  timeZone: string;
  patientName?: string;
  /** The current medication plan. */
  medications: readonly PlannedMedication[];
  /** Doses not yet taken, any order; may include one already due or late. */
  upcomingDoses: readonly UpcomingDose[];
  adherence?: AdherenceSummary;
}

export interface PlannedMedication {
  id: string;
  name: string;
  /** Free text as prescribed, e.g. `500 mg`. */
  strength?: string;
  /** Local times of day in the patient's zone, `HH:MM`. */
  times: readonly string[];
  /** Short instruction such as `with food`. */
  instructions?: string;
}

export interface UpcomingDose {
  occurrenceId: string;
  medicationId: string;
  medicationName: string;
  strength?: string;
  /** ISO 8601 instant (UTC). */
  dueAt: string;
}

export interface AdherenceSummary {
  period: AdherencePeriod;
  /** Doses that were scheduled in the period and are already past. */
  scheduled: number;
  /** Taken, on time or late. */
  taken: number;
  missed?: number;
  /** Outcome unknown because the dispenser was offline: never call these missed. */
  unknown?: number;
}

export type AdherencePeriod = 'today' | 'yesterday' | 'this_week' | 'last_7_days' | 'last_30_days';

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

export type LanguageModelErrorCode =
  | 'rate_limited'
  | 'upstream_unavailable'
  | 'timeout'
  | 'cancelled'
  | 'bad_request'
  | 'unauthorized'
  | 'upstream_error';

/** Fixed, safe texts: the message never carries upstream text, which could echo patient content. */
const MESSAGES: Record<LanguageModelErrorCode, string> = {
  rate_limited: 'The language model is rate limited',
  upstream_unavailable: 'The language model service is unavailable',
  timeout: 'The language model did not answer in time',
  cancelled: 'The language model request was cancelled',
  bad_request: 'The language model rejected the request',
  unauthorized: 'The language model rejected the credentials',
  upstream_error: 'The language model failed',
};

const RETRYABLE_BY_DEFAULT: Record<LanguageModelErrorCode, boolean> = {
  rate_limited: true,
  upstream_unavailable: true,
  timeout: true,
  cancelled: false,
  bad_request: false,
  unauthorized: false,
  upstream_error: true,
};

export interface LanguageModelErrorDetails {
  /** Overrides the default for the code (e.g. a 429 for an exhausted quota is not retryable). */
  retryable?: boolean;
  /** Upstream HTTP status, when there was one. */
  status?: number;
  /** Upstream machine code such as `rate_limit_exceeded`, only if it looks like an identifier. */
  upstreamCode?: string;
  /** Which adapter raised it (`openai`, `offline`, …). */
  provider?: string;
}

export class LanguageModelError extends Error {
  override readonly name = 'LanguageModelError';
  readonly code: LanguageModelErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly upstreamCode: string | undefined;
  readonly provider: string | undefined;

  constructor(code: LanguageModelErrorCode, details: LanguageModelErrorDetails = {}) {
    super(MESSAGES[code]);
    this.code = code;
    this.retryable = details.retryable ?? RETRYABLE_BY_DEFAULT[code];
    this.status = details.status;
    this.upstreamCode = safeIdentifier(details.upstreamCode);
    this.provider = details.provider;
  }
}

export function isLanguageModelError(value: unknown): value is LanguageModelError {
  return value instanceof LanguageModelError;
}

function safeIdentifier(value: string | undefined): string | undefined {
  return value !== undefined && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : undefined;
}

// ---------------------------------------------------------------------------------------------------
// complete(): the non-streaming convenience (daily/weekly summaries)
// ---------------------------------------------------------------------------------------------------

export interface Completion {
  text: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage?: TokenUsage;
  model: string;
  offline: boolean;
}

/** Runs `stream()` to the end and gathers the result. Throws what `stream()` throws. */
export async function complete(model: LanguageModel, request: LanguageModelRequest): Promise<Completion> {
  let text = '';
  const toolCalls: ToolCall[] = [];
  for await (const event of model.stream(request)) {
    if (event.type === 'token') text += event.text;
    else if (event.type === 'tool_call') toolCalls.push({ id: event.id, name: event.name, arguments: event.arguments });
    else return { text, toolCalls, finishReason: event.finishReason, usage: event.usage, model: event.model, offline: model.offline };
  }
  // An adapter that ends without `done` broke the contract; say so rather than return a silent partial.
  throw new LanguageModelError('upstream_error', { provider: model.name });
}
