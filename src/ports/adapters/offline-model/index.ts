export { OfflineLanguageModel, OFFLINE_MODEL_ID, type OfflineLanguageModelOptions } from './offline-language-model.js';
export { OFFLINE_LABEL } from './replies.js';
