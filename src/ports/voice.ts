/**
 * Voice port: what the hub gives a voice client so it can talk to a voice agent directly.
 *
 * The hub never relays audio. A client asks the hub (REST/Socket.IO, authenticated) for a session; the
 * hub answers with a short-lived token, the agent's WebSocket URL and the agent `Settings` (prompt,
 * functions from the tool registry, greeting). The client opens the socket with the token, sends the
 * Settings as its first message, and forwards each `FunctionCallRequest` to the hub, which validates the
 * arguments with `ToolRegistry.parseArguments()`, runs the tool and returns the `FunctionCallResponse`
 * content.
 *
 * The wire shapes are those of the Deepgram Voice Agent API (NOTES.md): the Settings type is Deepgram's,
 * because the client sends it to Deepgram verbatim.
 */
import type { Deepgram } from '@deepgram/sdk';
import type { DeepgramAgentFunction } from './tool-registry.js';

export interface VoicePort {
  /** False when no voice provider is configured: every call then throws `voice_unavailable`. */
  readonly available: boolean;
  /** The agent WebSocket URL the client connects to with the token. */
  readonly agentUrl: string;
  /** A short-lived token for one client. Never log it. */
  grantToken(options?: GrantTokenOptions): Promise<VoiceToken>;
  /** The `Settings` message the client sends first. Pure: no network. */
  agentSettings(input: VoiceAgentSettingsInput): VoiceAgentSettings;
}

export interface GrantTokenOptions {
  /** Lifetime of the token; the adapter's default otherwise (Deepgram's own default is 30 s). */
  ttlSeconds?: number;
  signal?: AbortSignal;
}

export interface VoiceToken {
  accessToken: string;
  /** Seconds, as the provider reported. */
  expiresIn: number;
  /** ISO 8601 instant, from the hub's clock. */
  expiresAt: string;
}

export interface VoiceAgentSettingsInput {
  /** System prompt for the agent's language model. The voice feature builds it (patient context etc.). */
  prompt: string;
  /** From `ToolRegistry.deepgramFunctions(selection)`. */
  functions: readonly DeepgramAgentFunction[];
  /** Spoken when the session starts. */
  greeting?: string;
}

/** Deepgram's `Settings` message (`type: 'Settings'`, `audio`, `agent.listen/think/speak`, `agent.greeting`). */
export type VoiceAgentSettings = Deepgram.agent.AgentV1Settings;

export type VoiceErrorCode =
  | 'voice_unavailable'
  | 'unauthorized'
  | 'rate_limited'
  | 'upstream_unavailable'
  | 'timeout'
  | 'cancelled'
  | 'bad_request'
  | 'upstream_error';

const MESSAGES: Record<VoiceErrorCode, string> = {
  voice_unavailable: 'Voice is unavailable: no voice provider is configured',
  unauthorized: 'The voice provider rejected the credentials',
  rate_limited: 'The voice provider is rate limited',
  upstream_unavailable: 'The voice provider is unavailable',
  timeout: 'The voice provider did not answer in time',
  cancelled: 'The voice request was cancelled',
  bad_request: 'The voice provider rejected the request',
  upstream_error: 'The voice provider failed',
};

const RETRYABLE: ReadonlySet<VoiceErrorCode> = new Set(['rate_limited', 'upstream_unavailable', 'timeout', 'upstream_error']);

/** Like LanguageModelError: a machine code, a retryable flag, and no upstream text. */
export class VoiceError extends Error {
  override readonly name = 'VoiceError';
  readonly code: VoiceErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(code: VoiceErrorCode, details: { status?: number } = {}) {
    super(MESSAGES[code]);
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    this.status = details.status;
  }
}
