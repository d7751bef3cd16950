import { randomUUID } from 'node:crypto';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { LanguageModelError, type FinishReason, type LanguageModelEvent, type TokenUsage } from '../../language-model.js';

interface PartialToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Turns Chat Completions chunks into port events.
 * - Text deltas become `token`s at once.
 * - Tool calls arrive as deltas keyed by `index` (id and name first, argument text in pieces, parallel
 *   calls interleaved); they are emitted whole, in index order, when `finish_reason` arrives.
 * - `done` comes from `finish()` after the last chunk, because the usage chunk follows `finish_reason`.
 */
export class ChunkAssembler {
  private model: string;
  private finishReason: FinishReason | undefined;
  private usage: TokenUsage | undefined;
  private readonly toolCalls = new Map<number, PartialToolCall>();

  constructor(
    requestedModel: string,
    private readonly provider: string,
  ) {
    this.model = requestedModel;
  }

  *push(chunk: ChatCompletionChunk): Generator<LanguageModelEvent> {
    if (chunk.model) this.model = chunk.model;
    if (chunk.usage) this.usage = toUsage(chunk.usage);
    // We ask for one choice; compatible servers occasionally omit `choices` on the usage chunk.
    const choice = (chunk.choices ?? []).find((candidate) => candidate.index === 0);
    if (!choice) return;
    const { content, refusal, tool_calls: toolCallDeltas } = choice.delta ?? {};
    if (content) yield { type: 'token', text: content };
    // A refusal is text for the user, so it streams like content.
    if (refusal) yield { type: 'token', text: refusal };
    for (const delta of toolCallDeltas ?? []) this.addToolCallDelta(delta);
    if (choice.finish_reason && this.finishReason === undefined) {
      this.finishReason = normaliseFinishReason(choice.finish_reason, this.toolCalls.size > 0);
      yield* this.completedToolCalls();
    }
  }

  /** Call after the last chunk. Throws when the stream ended before the model finished. */
  *finish(): Generator<LanguageModelEvent> {
    if (this.finishReason === undefined) {
      throw new LanguageModelError('upstream_error', { provider: this.provider, upstreamCode: 'stream_truncated' });
    }
    yield this.usage
      ? { type: 'done', finishReason: this.finishReason, usage: this.usage, model: this.model }
      : { type: 'done', finishReason: this.finishReason, model: this.model };
  }

  private addToolCallDelta(delta: ChatCompletionChunk.Choice.Delta.ToolCall): void {
    const call = this.toolCalls.get(delta.index) ?? { id: '', name: '', arguments: '' };
    // Set-if-empty: some compatible servers repeat id and name on every delta.
    call.id ||= delta.id ?? '';
    call.name ||= delta.function?.name ?? '';
    call.arguments += delta.function?.arguments ?? '';
    this.toolCalls.set(delta.index, call);
  }

  private *completedToolCalls(): Generator<LanguageModelEvent> {
    const ordered = [...this.toolCalls.entries()].sort(([a], [b]) => a - b);
    for (const [index, call] of ordered) {
      // A server that sends no id still needs one: the tool result must point back at its call.
      const id = call.id || `call_${index}_${randomUUID().slice(0, 8)}`;
      yield { type: 'tool_call', id, name: call.name, arguments: call.arguments };
    }
  }
}

function toUsage(usage: NonNullable<ChatCompletionChunk['usage']>): TokenUsage {
  return { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, totalTokens: usage.total_tokens };
}

function normaliseFinishReason(reason: string, hasToolCalls: boolean): FinishReason {
  if (reason === 'length' || reason === 'content_filter') return reason;
  // Older vLLM/Ollama report `stop` even when they emitted tool calls; `function_call` is the legacy name.
  if (reason === 'tool_calls' || reason === 'function_call' || hasToolCalls) return 'tool_calls';
  return 'stop';
}
