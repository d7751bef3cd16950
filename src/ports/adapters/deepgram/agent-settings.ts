import type { Deepgram } from '@deepgram/sdk';
import type { VoiceAgentSettings, VoiceAgentSettingsInput } from '../../voice.js';

/** The parts of the agent that are configuration, not per-session content. */
export interface AgentDefaults {
  audio: Deepgram.agent.AgentV1Settings.Audio;
  listen: Deepgram.agent.AgentV1SettingsAgentListenProvider;
  think: Deepgram.ThinkSettingsV1Provider;
  speak: Deepgram.SpeakSettingsV1Provider;
}

export const DEFAULT_AGENT: AgentDefaults = {
  // 16 kHz in (speech recognition needs no more), 24 kHz out (Deepgram's default TTS rate), raw PCM.
  audio: { input: { encoding: 'linear16', sample_rate: 16_000 }, output: { encoding: 'linear16', sample_rate: 24_000, container: 'none' } },
  listen: { type: 'deepgram', version: 'v1', model: 'nova-3', language: 'en' },
  // Low temperature: medication answers should be plain and repeatable.
  think: { type: 'open_ai', model: 'gpt-4o-mini', temperature: 0.3 },
  speak: { type: 'deepgram', model: 'aura-2-thalia-en' },
};

export function buildAgentSettings(defaults: AgentDefaults, input: VoiceAgentSettingsInput): VoiceAgentSettings {
  const settings: VoiceAgentSettings = {
    type: 'Settings',
    audio: structuredClone(defaults.audio),
    agent: {
      listen: { provider: structuredClone(defaults.listen) },
      think: {
        provider: structuredClone(defaults.think),
        prompt: input.prompt,
        // No `endpoint`: Deepgram sends FunctionCallRequest to the client, which asks the hub.
        functions: input.functions.map((fn) => structuredClone(fn)),
      },
      speak: { provider: structuredClone(defaults.speak) },
    },
  };
  if (input.greeting !== undefined) settings.agent.greeting = input.greeting;
  return settings;
}
