import type { ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatMessage, LanguageModelRequest } from '../../language-model.js';
import { toOpenAITool } from '../../tool-registry.js';

/** `max_completion_tokens` is OpenAI's current name; some compatible servers (older Ollama) only know `max_tokens`. */
export type MaxTokensField = 'max_tokens' | 'max_completion_tokens';

/** Maps a port request to a Chat Completions streaming request. */
export function toChatCompletionParams(
  request: LanguageModelRequest,
  model: string,
  maxTokensField: MaxTokensField,
): ChatCompletionCreateParamsStreaming {
  const params: ChatCompletionCreateParamsStreaming = {
    model,
    messages: request.messages.map(toWireMessage),
    stream: true,
    // Without this the stream carries no token counts; with it the last chunk has `choices: []` + `usage`.
    stream_options: { include_usage: true },
  };
  if (request.tools && request.tools.length > 0) params.tools = request.tools.map(toOpenAITool);
  if (request.maxTokens !== undefined) params[maxTokensField] = request.maxTokens;
  return params;
}

function toWireMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
    case 'assistant':
      // The API rejects `tool_calls: []`, so the key is present only when there are calls.
      return message.toolCalls && message.toolCalls.length > 0
        ? {
            role: 'assistant',
            content: message.content,
            tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
          }
        : { role: 'assistant', content: message.content ?? '' };
  }
}
