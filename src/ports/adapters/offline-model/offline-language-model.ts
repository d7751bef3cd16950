import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import {
  LanguageModelError,
  type LanguageModel,
  type LanguageModelEvent,
  type LanguageModelRequest,
} from '../../language-model.js';
import { silentLogger, type PortLogger } from '../../logger.js';
import { wordTokens } from './format.js';
import { composeReply, OFFLINE_LABEL, type OfflineReply } from './replies.js';

export const OFFLINE_MODEL_ID = 'medhub-offline-1';

export interface OfflineLanguageModelOptions {
  /** Pause between streamed words, for demos. Default 0 (still one event-loop turn per word). */
  tokenDelayMs?: number;
  logger?: PortLogger;
}

/**
 * The language model used when no OPENAI_API_KEY is configured: deterministic keyword rules that answer
 * from `request.context` (next dose, plan, adherence), and turn help and symptom messages into
 * `request_help` / `log_symptom` tool calls when the request offers those tools, so the chat layer runs
 * the same tool loop as with OpenAI. It streams word by word, labels every answer, never returns an
 * empty reply and throws only `cancelled`. `maxTokens` is ignored: answers are a few sentences.
 */
export class OfflineLanguageModel implements LanguageModel {
  readonly name = 'offline';
  readonly offline = true;
  readonly defaultModel = OFFLINE_MODEL_ID;
  private readonly tokenDelayMs: number;
  private readonly logger: PortLogger;

  constructor(options: OfflineLanguageModelOptions = {}) {
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.logger = options.logger ?? silentLogger;
  }

  stream(request: LanguageModelRequest): AsyncIterable<LanguageModelEvent> {
    return this.run(request);
  }

  private async *run(request: LanguageModelRequest): AsyncGenerator<LanguageModelEvent> {
    const reply = this.replyTo(request);
    for (const text of wordTokens(reply.text)) {
      await this.pause(request.signal);
      yield { type: 'token', text };
    }
    if (reply.toolCall) {
      await this.pause(request.signal);
      yield { type: 'tool_call', ...reply.toolCall };
    }
    this.logger.debug({ provider: this.name, intent: reply.intent, toolCall: reply.toolCall?.name }, 'offline model answered');
    yield { type: 'done', finishReason: reply.toolCall ? 'tool_calls' : 'stop', model: OFFLINE_MODEL_ID };
  }

  /** Rules over arbitrary caller data: a bug there must cost a good answer, never the reply. */
  private replyTo(request: LanguageModelRequest): OfflineReply {
    try {
      return composeReply(request);
    } catch (error) {
      this.logger.error({ provider: this.name, errorName: error instanceof Error ? error.name : typeof error }, 'offline model rule failed');
      return { text: `${OFFLINE_LABEL} Sorry, I couldn't work that out. Please check the app or ask your care team.`, intent: 'failed' };
    }
  }

  /** Yields to the event loop between words (so streaming is real) and honours cancellation. */
  private async pause(signal: AbortSignal): Promise<void> {
    this.throwIfCancelled(signal);
    await (this.tokenDelayMs > 0 ? sleep(this.tokenDelayMs).then(() => undefined) : nextTurn());
    this.throwIfCancelled(signal);
  }

  private throwIfCancelled(signal: AbortSignal): void {
    if (signal.aborted) throw new LanguageModelError('cancelled', { provider: this.name });
  }
}
