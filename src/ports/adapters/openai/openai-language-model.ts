import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import {
  LanguageModelError,
  type LanguageModel,
  type LanguageModelEvent,
  type LanguageModelRequest,
} from '../../language-model.js';
import { silentLogger, type PortLogger } from '../../logger.js';
import { AttemptControl, type AttemptTimeouts } from './attempt-control.js';
import { ChunkAssembler } from './chunk-assembler.js';
import { toLanguageModelError } from './errors.js';
import { toChatCompletionParams, type MaxTokensField } from './request.js';

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';

export interface OpenAILanguageModelOptions {
  /** Required by the SDK; any non-empty string for servers that ignore it (Ollama). */
  apiKey: string;
  /** Default `https://api.openai.com/v1`; e.g. `http://host:8000/v1` (vLLM), `http://host:11434/v1` (Ollama). */
  baseURL?: string;
  /** Default model, e.g. `gpt-4o-mini`. */
  model: string;
  /** Label for logs and the UI. Default `openai`. */
  name?: string;
  /** Per HTTP attempt, until response headers (the SDK's `timeout`). Default 20 s. */
  timeoutMs?: number;
  /** Until the first chunk, across SDK retries and Retry-After sleeps. Default 60 s. */
  firstChunkTimeoutMs?: number;
  /** Longest silence between chunks. Default 30 s. */
  idleTimeoutMs?: number;
  /** Retries of a failed request before its first event (SDK: 408/409/429/5xx/connection; ours: stream errors). Default 2. */
  maxRetries?: number;
  /** Base of the exponential backoff for stream-level retries. Default 500 ms (the SDK's own base). */
  retryBaseDelayMs?: number;
  /** Default `max_completion_tokens`; set `max_tokens` for servers that only know the old name. */
  maxTokensField?: MaxTokensField;
  logger?: PortLogger;
}

/**
 * LanguageModel over Chat Completions streaming, via the `openai` SDK v6, for OpenAI and any compatible
 * server.
 *
 * Retries, verified in node_modules/openai/client.js (`makeRequest`, `shouldRetry`, `retryRequest`):
 * the SDK retries the *request* up to `maxRetries` times on connection errors and timeouts, and on HTTP
 * 408, 409, 429 and >= 500 (or when the server sends `x-should-retry: true`), waiting `retry-after-ms`
 * or `retry-after` when given (uncapped), else 0.5 s × 2^n (max 8 s) minus up to 25 % jitter. It counts
 * retries in the `x-stainless-retry-count` header. Once the response is 200 the SDK never retries: an
 * error inside the stream is thrown as `APIError` without status, and an abort ends iteration silently.
 * So this adapter adds: a retry for stream failures that happen before the first event, the watchdog
 * timeouts, and cancellation that throws (see AttemptControl).
 */
export class OpenAILanguageModel implements LanguageModel {
  readonly name: string;
  readonly offline = false;
  readonly defaultModel: string;
  private readonly client: OpenAI;
  private readonly timeouts: AttemptTimeouts;
  private readonly maxRetries: number;
  private readonly retryBaseDelayMs: number;
  private readonly maxTokensField: MaxTokensField;
  private readonly logger: PortLogger;

  constructor(options: OpenAILanguageModelOptions) {
    this.name = options.name ?? 'openai';
    this.defaultModel = options.model;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.maxTokensField = options.maxTokensField ?? 'max_completion_tokens';
    this.timeouts = { firstChunkTimeoutMs: options.firstChunkTimeoutMs ?? 60_000, idleTimeoutMs: options.idleTimeoutMs ?? 30_000 };
    this.logger = options.logger ?? silentLogger;
    this.client = new OpenAI({
      apiKey: options.apiKey,
      baseURL: options.baseURL ?? OPENAI_BASE_URL,
      timeout: options.timeoutMs ?? 20_000,
      maxRetries: this.maxRetries,
      // Passing these explicitly stops the SDK from reading OPENAI_ORG_ID, OPENAI_PROJECT_ID,
      // OPENAI_WEBHOOK_SECRET and OPENAI_LOG from process.env: config.ts is the only reader.
      organization: null,
      project: null,
      webhookSecret: null,
      // The SDK logs unparseable chunks verbatim to console; upstream text must not reach logs.
      logLevel: 'off',
    });
  }

  stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent> {
    return this.streamWithRetries(request);
  }

  private async *streamWithRetries(request: LanguageModelRequest): AsyncGenerator<LanguageModelEvent> {
    const model = request.model ?? this.defaultModel;
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      const progress: AttemptProgress = { streaming: false, yielded: false };
      try {
        for await (const event of this.attempt(request, model, progress)) {
          progress.yielded = true;
          if (event.type === 'done') this.logFinished(event, attempt, startedAt);
          yield event;
        }
        return;
      } catch (error) {
        const failure = toLanguageModelError(error, this.name);
        if (this.shouldRetryStream(failure, progress, attempt)) {
          await this.backoff(failure, model, attempt, request.signal);
          continue;
        }
        this.logFailure(failure, model, attempt, startedAt);
        throw failure;
      }
    }
  }

  private async *attempt(request: LanguageModelRequest, model: string, progress: AttemptProgress): AsyncGenerator<LanguageModelEvent> {
    const control = new AttemptControl(request.signal, this.timeouts, this.name);
    try {
      const params = toChatCompletionParams(request, model, this.maxTokensField);
      const chunks = await control.race(this.client.chat.completions.create(params, { signal: control.signal }));
      progress.streaming = true;
      const assembler = new ChunkAssembler(model, this.name);
      for await (const chunk of chunks) {
        control.chunkArrived();
        yield* assembler.push(chunk);
      }
      // When aborted mid-stream the SDK's iterator ends without an error; say why it ended.
      const aborted = control.abortError();
      if (aborted) throw aborted;
      yield* assembler.finish();
    } catch (error) {
      // An abort explains whatever error it caused downstream (AbortError, `terminated`, …).
      throw control.abortError() ?? error;
    } finally {
      control.dispose();
    }
  }

  /**
   * The SDK already retried everything that failed before the stream opened; we retry only failures
   * inside the stream that happened before anything reached the caller.
   */
  private shouldRetryStream(failure: LanguageModelError, progress: AttemptProgress, attempt: number): boolean {
    return progress.streaming && !progress.yielded && failure.retryable && failure.code !== 'timeout' && attempt <= this.maxRetries;
  }

  private async backoff(failure: LanguageModelError, model: string, attempt: number, signal: AbortSignal): Promise<void> {
    const delayMs = Math.min(this.retryBaseDelayMs * 2 ** (attempt - 1), 8_000) * (1 - Math.random() * 0.25);
    this.logger.info(
      { provider: this.name, model, code: failure.code, upstreamCode: failure.upstreamCode, attempt, delayMs: Math.round(delayMs) },
      'language model stream failed before its first event; retrying',
    );
    try {
      await sleep(delayMs, undefined, { signal });
    } catch {
      throw new LanguageModelError('cancelled', { provider: this.name });
    }
  }

  private logFinished(event: Extract<LanguageModelEvent, { type: 'done' }>, attempts: number, startedAt: number): void {
    this.logger.debug(
      {
        provider: this.name,
        model: event.model,
        finishReason: event.finishReason,
        promptTokens: event.usage?.promptTokens,
        completionTokens: event.usage?.completionTokens,
        attempts,
        durationMs: Date.now() - startedAt,
      },
      'language model stream finished',
    );
  }

  private logFailure(failure: LanguageModelError, model: string, attempts: number, startedAt: number): void {
    const fields = {
      provider: this.name,
      model,
      code: failure.code,
      status: failure.status,
      upstreamCode: failure.upstreamCode,
      retryable: failure.retryable,
      attempts,
      durationMs: Date.now() - startedAt,
    };
    if (failure.code === 'cancelled') this.logger.debug(fields, 'language model stream cancelled');
    else this.logger.warn(fields, 'language model stream failed');
  }
}

interface AttemptProgress {
  /** The HTTP response was 200 and chunks were being read. */
  streaming: boolean;
  /** At least one event reached the caller. */
  yielded: boolean;
}
