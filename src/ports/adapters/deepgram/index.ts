export {
  createVoicePort,
  DeepgramVoice,
  UnavailableVoice,
  DEEPGRAM_AGENT_URL,
  DEEPGRAM_BASE_URL,
  type DeepgramVoiceOptions,
} from './deepgram-voice.js';
export { DEFAULT_AGENT, type AgentDefaults } from './agent-settings.js';
