export { OpenAILanguageModel, OPENAI_BASE_URL, type OpenAILanguageModelOptions } from './openai-language-model.js';
export type { MaxTokensField } from './request.js';
