/**
 * One chat turn: the assistant's answer to one user message, from the first upstream request to the
 * stored message. Runs the tool loop of src/ports/README.md and streams every token, in order and
 * numbered from 0, to room `conversation:{id}` and to the turn's own listeners (the SSE response).
 *
 * The token path does no I/O of its own: a token is appended in memory and emitted; the message is
 * saved within a second of any new token, in the background (so a client that missed events can
 * fetch the text so far), and once at the end, before `complete`/`error` is sent with the stored message.
 * While it runs, it also saves its activity every KEEP_ALIVE_MS even when no token comes (a slow model,
 * a tool round), so that no instance's interrupted-answer sweep takes it for one whose hub stopped.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { LanguageModelError, type AssistantContext, type ChatMessage, type LanguageModel, type TokenUsage, type ToolCall } from '../../ports/language-model.js';
import { AppError } from '../../errors.js';
import { CANCELLED, chatErrorEvent, INTERRUPTED, toTurnFailure, type TurnFailure } from './errors.js';
import type { ChatComplete } from '../../generated/socket/chat-complete.js';
import type { ChatErrorEvent } from '../../generated/socket/chat-error.js';
import type { ChatStarted } from '../../generated/socket/chat-started.js';
import type { ChatToken } from '../../generated/socket/chat-token.js';
import type { LlmOutcome, MessageDoc, ConversationModels } from './models.js';
import type { ToolExecutor, ToolRun, ToolScope } from '../intents/executor.js';
import { toMessageView, type ChatMessageView } from './views.js';
import { messageTokens, totalTokens } from './prompt.js';

export type { ChatComplete, ChatErrorEvent, ChatStarted, ChatToken };

/** Who else hears the turn besides the conversation room (an SSE response). Called synchronously. */
export interface TurnListener {
  started?(event: ChatStarted): void;
  token?(event: ChatToken): void;
  complete?(event: ChatComplete): void;
  error?(event: ChatErrorEvent): void;
}

/** `claim_lost`: the turn's claim on the conversation lapsed (the store unreachable for a minute) and another answer took it. */
export type CancelReason = 'client_disconnected' | 'user' | 'shutdown' | 'claim_lost';

export interface TurnResult {
  message: ChatMessageView;
  failure?: TurnFailure;
}

export interface TurnIds {
  organisationId: string;
  patientId: string;
  conversationId: string;
  userMessageId: string;
  messageId: string;
}

export interface TurnDeps {
  models: ConversationModels;
  languageModel: LanguageModel;
  tools: ToolExecutor;
  /** Emits to a socket room. */
  publish(room: string, event: string, payload: unknown): void;
  room: string;
  clock: Clock;
  logger: Logger;
  maxToolRounds: number;
  /** How often the answer is saved while it grows. */
  checkpointMs: number;
  onFirstToken?(seconds: number): void;
  /** Called with each keep-alive save (the chat service extends its claim on the conversation). */
  onKeepAlive?(now: Date): Promise<unknown>;
  /** Called once the answer is stored, before its terminal event (the chat service gives up its claim). Never rejects. */
  onStored?(): Promise<void>;
  /** Called once the answer is stored, just before its terminal event is sent. */
  onSettled?(status: string): void;
}

/** A running answer's activity is saved at least this often (hub clock), tokens or not. */
export const KEEP_ALIVE_MS = 15_000;

export interface TurnPlan {
  messages: ChatMessage[];
  context: AssistantContext | undefined;
  maxTokens: number;
  scope: ToolScope;
}

interface RoundLog {
  round: number;
  messageCount: number;
  promptTokensEstimate: number;
  toolsOffered: number;
  firstTokenMs: number | null;
  totalMs: number;
  tokenEvents: number;
  toolCalls: number;
  usage?: TokenUsage;
  finishReason: string | null;
  outcome: LlmOutcome;
  model: string;
  errorCode: string | null;
  upstreamStatus: number | null;
}

const round2 = (ms: number): number => Math.round(ms * 100) / 100;

export class Turn {
  readonly controller = new AbortController();
  content = '';
  /** Index of the next token; also the number of tokens emitted so far. */
  tokens = 0;
  cancelReason: CancelReason | undefined;
  readonly done: Promise<TurnResult>;

  private readonly listeners: TurnListener[] = [];
  private readonly startedAt = performance.now();
  private readonly startedAtInstant: Date;
  private firstTokenMs: number | null = null;
  private ticker: NodeJS.Timeout | undefined;
  /** Tokens in the last save, and the time of the last keep-alive: what the next tick has to save. */
  private savedTokens = 0;
  private keptAliveAt: Date;
  private saving = false;
  /** The outcome is decided (the model stopped, failed or was cancelled): only saving and telling remain. */
  private finished = false;
  private settled = false;
  private saves: Promise<unknown> = Promise.resolve();
  private resolveDone!: (result: TurnResult) => void;

  constructor(
    readonly ids: TurnIds,
    private readonly deps: TurnDeps,
  ) {
    this.startedAtInstant = deps.clock.now();
    // The chat service recorded the answer, and claimed the conversation, as of now.
    this.keptAliveAt = this.startedAtInstant;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  listen(listener: TurnListener): void {
    this.listeners.push(listener);
  }

  /**
   * Stops the answer: the upstream request is closed and the message ends `cancelled`. False when it
   * is too late: the outcome is decided (an answer being saved as complete stays complete), or it was
   * already cancelled. A true answer is a promise that the answer ends cancelled (or interrupted).
   */
  cancel(reason: CancelReason): boolean {
    if (this.finished || this.controller.signal.aborted) return false;
    this.cancelReason = reason;
    this.controller.abort();
    return true;
  }

  announce(event: ChatStarted): void {
    this.deps.publish(this.deps.room, 'chat:started', event);
    this.notify((listener) => listener.started?.(event));
  }

  /** Runs the turn; never throws. Resolves `done`. */
  async run(plan: TurnPlan): Promise<void> {
    const { languageModel, tools, maxToolRounds } = this.deps;
    const messages = [...plan.messages];
    const toolRuns: Array<ToolRun & { round: number }> = [];
    const rounds: RoundLog[] = [];
    let usage: TokenUsage | undefined;
    let model = languageModel.defaultModel;
    let failure: TurnFailure | undefined;
    this.ticker = setInterval(() => this.tick(), this.deps.checkpointMs);
    this.ticker.unref();

    try {
      for (let round = 0; round <= maxToolRounds; round++) {
        // The last round offers no tools, so the model has to answer in words.
        const offered = round < maxToolRounds ? tools.offered() : [];
        const log: RoundLog = {
          round,
          messageCount: messages.length,
          promptTokensEstimate: totalTokens(messages) + offered.reduce((sum, tool) => sum + messageTokens({ role: 'system', content: JSON.stringify(tool) }), 0),
          toolsOffered: offered.length,
          firstTokenMs: null,
          totalMs: 0,
          tokenEvents: 0,
          toolCalls: 0,
          finishReason: null,
          outcome: 'complete',
          model,
          errorCode: null,
          upstreamStatus: null,
        };
        rounds.push(log);
        const roundStart = performance.now();
        const calls: ToolCall[] = [];
        let roundText = '';
        try {
          const request = { messages, tools: offered, signal: this.controller.signal, maxTokens: plan.maxTokens, ...(plan.context ? { context: plan.context } : {}) };
          for await (const event of languageModel.stream(request)) {
            if (log.firstTokenMs === null && event.type !== 'done') log.firstTokenMs = round2(performance.now() - roundStart);
            if (event.type === 'token') {
              if (event.text === '') continue;
              // Text of a later round continues the answer; keep words apart.
              const delta = roundText === '' && needsSpace(this.content, event.text) ? ` ${event.text}` : event.text;
              roundText += delta;
              log.tokenEvents += 1;
              this.push(delta);
            } else if (event.type === 'tool_call') {
              calls.push({ id: event.id, name: event.name, arguments: event.arguments });
            } else {
              log.finishReason = event.finishReason;
              log.model = model = event.model;
              if (event.usage) usage = addUsage(usage, event.usage);
              log.usage = event.usage;
            }
          }
        } catch (error) {
          const failed = this.explain(error);
          log.outcome = failed.code === 'cancelled' || failed.code === 'interrupted' ? 'cancelled' : 'error';
          log.errorCode = failed.code;
          log.upstreamStatus = failed.upstreamStatus ?? null;
          throw error;
        } finally {
          log.totalMs = round2(performance.now() - roundStart);
        }
        log.toolCalls = calls.length;
        if (calls.length === 0) break;
        log.outcome = 'tool_calls';
        messages.push({ role: 'assistant', content: roundText === '' ? null : roundText, toolCalls: calls });
        for (const call of calls) {
          if (this.controller.signal.aborted) throw new LanguageModelError('cancelled', { provider: languageModel.name });
          const run = await tools.run(call, plan.scope);
          toolRuns.push({ ...run, round });
          messages.push({ role: 'tool', toolCallId: call.id, content: run.result });
        }
      }
      if (this.content.trim() === '') {
        failure = { code: 'upstream_error', message: 'The assistant gave no answer', retryable: true, appError: new AppError('upstream_error', 'The assistant gave no answer') };
      }
    } catch (error) {
      failure = this.explain(error);
    }
    // A cancel accepted after the model's last event (before the loop noticed) still wins: it was acked.
    if (!failure && this.cancelReason) failure = this.explain(undefined);
    this.finished = true;
    clearInterval(this.ticker);

    try {
      this.resolveDone(await this.finish({ failure, usage, model, toolRuns, rounds }));
    } catch (error) {
      // Only a bug gets here; still settle, so callers and shutdown never wait forever.
      this.deps.logger.error({ err: errorName(error), messageId: this.ids.messageId }, 'chat turn failed to finish');
      await this.deps.onStored?.();
      this.settle('error');
      this.resolveDone({ message: toMessageView(this.unsaved({ content: this.content, tokens: this.tokens, status: 'error', error: { code: 'internal', message: 'Internal error' } })), failure: { code: 'internal', message: 'Internal error', retryable: false, appError: new AppError('internal') } });
    }
  }

  /** Live state for a socket that joins mid-answer. */
  snapshot(): { messageId: string; content: string; tokens: number } {
    return { messageId: this.ids.messageId, content: this.content, tokens: this.tokens };
  }

  private settle(status: string): void {
    if (this.settled) return;
    this.settled = true;
    this.deps.onSettled?.(status);
  }

  /** A listener that throws (a broken response) must not stop the turn or the other listeners. */
  private notify(call: (listener: TurnListener) => void): void {
    for (const listener of this.listeners) {
      try {
        call(listener);
      } catch (error) {
        this.deps.logger.warn({ err: errorName(error), messageId: this.ids.messageId }, 'a chat listener failed');
      }
    }
  }

  private explain(error: unknown): TurnFailure {
    if (this.cancelReason === 'shutdown' || this.cancelReason === 'claim_lost') return INTERRUPTED;
    if (this.cancelReason) return CANCELLED;
    return toTurnFailure(error);
  }

  private push(delta: string): void {
    const index = this.tokens++;
    this.content += delta;
    if (this.firstTokenMs === null) {
      this.firstTokenMs = round2(performance.now() - this.startedAt);
      this.deps.onFirstToken?.(this.firstTokenMs / 1000);
    }
    const event: ChatToken = { conversationId: this.ids.conversationId, messageId: this.ids.messageId, index, delta };
    this.deps.publish(this.deps.room, 'chat:token', event);
    this.notify((listener) => listener.token?.(event));
  }

  /**
   * Every checkpointMs while the turn runs: saves the text so far if it grew, and the activity (plus
   * the claim, through onKeepAlive) once KEEP_ALIVE_MS has passed. In the background, one save at a
   * time; a failed save is tried again on a later tick.
   */
  private tick(): void {
    if (this.finished || this.saving) return;
    const now = this.deps.clock.now();
    const grew = this.tokens !== this.savedTokens;
    const keepAlive = now.getTime() - this.keptAliveAt.getTime() >= KEEP_ALIVE_MS;
    if (!grew && !keepAlive) return;
    this.saving = true;
    this.saves = this.checkpoint(now, keepAlive).finally(() => (this.saving = false));
  }

  private async checkpoint(now: Date, keepAlive: boolean): Promise<void> {
    const { content, tokens } = this;
    try {
      await Promise.all([
        this.deps.models.Message.updateOne({ _id: this.ids.messageId, status: 'streaming' }, { $set: { content, tokens, activityAt: now } }),
        keepAlive ? this.deps.onKeepAlive?.(now) : undefined,
      ]);
      this.savedTokens = tokens;
      if (keepAlive) this.keptAliveAt = now;
    } catch (error) {
      this.deps.logger.warn({ err: errorName(error), messageId: this.ids.messageId }, 'could not save the answer so far');
    }
  }

  private async finish(outcome: { failure: TurnFailure | undefined; usage: TokenUsage | undefined; model: string; toolRuns: Array<ToolRun & { round: number }>; rounds: RoundLog[] }): Promise<TurnResult> {
    const { languageModel, clock, logger } = this.deps;
    // An answer that failed after a tool recorded something (a dose, a call for help) is not to be asked
    // again: the new question would not show the model what was done, and it would do it again.
    const acted = outcome.toolRuns.some((run) => run.changed);
    const failure = outcome.failure && acted ? { ...outcome.failure, retryable: false, acted } : outcome.failure;
    const status = !failure ? 'complete' : failure.code === 'cancelled' ? 'cancelled' : 'error';
    const totalMs = round2(performance.now() - this.startedAt);
    const set = {
      content: this.content,
      tokens: this.tokens,
      status,
      model: outcome.model,
      usage: outcome.usage ?? null,
      timing: { startedAt: this.startedAtInstant, firstTokenMs: this.firstTokenMs, totalMs, completedAt: clock.now() },
      toolCalls: outcome.toolRuns.map((run) => ({ id: run.id, name: run.name, arguments: run.arguments, result: run.result, ok: run.ok, errorCode: run.errorCode, round: run.round })),
      error: failure ? { code: failure.code, message: failure.message } : null,
      activityAt: clock.now(),
    };
    const at = clock.now();
    const entries = outcome.rounds.map((round) => ({
      at,
      organisationId: this.ids.organisationId,
      patientId: this.ids.patientId,
      conversationId: this.ids.conversationId,
      messageId: this.ids.messageId,
      round: round.round,
      provider: languageModel.name,
      model: round.model,
      offline: languageModel.offline,
      messageCount: round.messageCount,
      promptTokensEstimate: round.promptTokensEstimate,
      toolsOffered: round.toolsOffered,
      firstTokenMs: round.firstTokenMs,
      totalMs: round.totalMs,
      tokenEvents: round.tokenEvents,
      toolCalls: round.toolCalls,
      promptTokens: round.usage?.promptTokens ?? null,
      completionTokens: round.usage?.completionTokens ?? null,
      totalTokens: round.usage?.totalTokens ?? null,
      finishReason: round.finishReason,
      outcome: round.outcome,
      errorCode: round.errorCode,
      upstreamStatus: round.upstreamStatus,
    }));

    await this.saves;
    // The answer first: it is what the caller and the watchers are told about. The request log is
    // bookkeeping; losing an entry must not turn a stored answer into a reported failure. The claim
    // is given up before the terminal event, so that whoever hears it can send the next message.
    const { stored, saveFailed } = await this.store(set);
    await Promise.all([this.recordRequests(entries), this.deps.onStored?.()]);
    const unsavedFailure = saveFailed && !failure ? { code: 'internal' as const, message: 'The answer could not be saved', retryable: !acted, acted, appError: new AppError('internal') } : undefined;
    const finalFailure = unsavedFailure ?? failure;
    // An answer that could not be saved says so, also where it is sent with 200 (a JSON caller, after a tool acted).
    const message = toMessageView(stored ?? this.unsaved(unsavedFailure ? { ...set, status: 'error', error: { code: unsavedFailure.code, message: unsavedFailure.message } } : set));

    logger.info(
      {
        conversationId: this.ids.conversationId,
        messageId: this.ids.messageId,
        status,
        errorCode: failure?.code,
        cancelReason: this.cancelReason,
        provider: languageModel.name,
        model: outcome.model,
        offline: languageModel.offline,
        rounds: outcome.rounds.length,
        tools: outcome.toolRuns.map((run) => `${run.name}:${run.ok ? 'ok' : (run.errorCode ?? 'failed')}`),
        tokens: this.tokens,
        firstTokenMs: this.firstTokenMs,
        totalMs,
      },
      'assistant turn ended',
    );

    this.settle(status);
    if (!finalFailure) {
      const event: ChatComplete = { conversationId: this.ids.conversationId, message };
      this.deps.publish(this.deps.room, 'chat:complete', event);
      this.notify((listener) => listener.complete?.(event));
    } else {
      const event = chatErrorEvent(this.ids.conversationId, this.ids.messageId, finalFailure, message);
      this.deps.publish(this.deps.room, 'chat:error', event);
      this.notify((listener) => listener.error?.(event));
    }
    return finalFailure ? { message, failure: finalFailure } : { message };
  }

  /** Saves the final state of the answer; `stored` is null when the store did not take it. */
  private async store(set: Record<string, unknown>): Promise<{ stored: MessageDoc | null; saveFailed: boolean }> {
    try {
      const stored = await this.deps.models.Message.findByIdAndUpdate(this.ids.messageId, { $set: set }, { returnDocument: 'after' }).lean<MessageDoc>();
      return { stored, saveFailed: false };
    } catch (error) {
      this.deps.logger.error({ err: errorName(error), conversationId: this.ids.conversationId, messageId: this.ids.messageId }, 'could not save the answer');
      return { stored: null, saveFailed: true };
    }
  }

  /** One LLM request log entry per round; a failure is logged, never the turn's. */
  private async recordRequests(entries: readonly object[]): Promise<void> {
    if (entries.length === 0) return;
    try {
      await this.deps.models.LlmRequest.insertMany(entries);
    } catch (error) {
      this.deps.logger.error({ err: errorName(error), conversationId: this.ids.conversationId, messageId: this.ids.messageId }, 'could not record the language-model requests');
    }
  }

  private unsaved(set: Record<string, unknown>): MessageDoc {
    return {
      _id: this.ids.messageId,
      conversationId: this.ids.conversationId,
      role: 'assistant',
      replyTo: this.ids.userMessageId,
      provider: this.deps.languageModel.name,
      offline: this.deps.languageModel.offline,
      createdAt: this.startedAtInstant,
      ...set,
    } as unknown as MessageDoc;
  }
}

function needsSpace(before: string, next: string): boolean {
  return before !== '' && !/\s$/.test(before) && !/^\s/.test(next);
}

function addUsage(total: TokenUsage | undefined, more: TokenUsage): TokenUsage {
  if (!total) return { ...more };
  return { promptTokens: total.promptTokens + more.promptTokens, completionTokens: total.completionTokens + more.completionTokens, totalTokens: total.totalTokens + more.totalTokens };
}

/** Errors are logged by name only: driver messages can quote documents. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
