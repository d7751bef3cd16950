/**
 * The assistant's language model, chosen once in the composition root: OpenAI (or any OpenAI-compatible
 * server at OPENAI_BASE_URL: vLLM, Ollama…) when OPENAI_API_KEY is set, else the deterministic offline
 * model, whose answers are labelled (`offline: true` on every message and event, and the text starts
 * with "(Offline assistant)").
 */
import type { Config } from '../../config.js';
import type { Logger } from '../../observability/logger.js';
import { OfflineLanguageModel } from '../../ports/adapters/offline-model/index.js';
import { OPENAI_BASE_URL, OpenAILanguageModel } from '../../ports/adapters/openai/index.js';
import type { LanguageModel } from '../../ports/language-model.js';

export function selectLanguageModel(config: Config, logger: Logger): LanguageModel {
  const log = logger.child({ port: 'llm' });
  const { apiKey, baseURL, model } = config.openai;
  if (!apiKey) return new OfflineLanguageModel({ logger: log });
  const name = !baseURL || baseURL.replace(/\/+$/, '') === OPENAI_BASE_URL ? 'openai' : 'openai-compatible';
  return new OpenAILanguageModel({ apiKey, ...(baseURL ? { baseURL } : {}), model, name, logger: log });
}
