import type * as DeepgramSdkModule from '@deepgram/sdk';
import type { DeepgramClient } from '@deepgram/sdk';
import type { Clock } from '../../clock.js';
import { silentLogger, type PortLogger } from '../../logger.js';
import {
  VoiceError,
  type GrantTokenOptions,
  type VoiceAgentSettings,
  type VoiceAgentSettingsInput,
  type VoicePort,
  type VoiceToken,
} from '../../voice.js';
import { buildAgentSettings, DEFAULT_AGENT, type AgentDefaults } from './agent-settings.js';

type DeepgramSdk = typeof DeepgramSdkModule;

/**
 * The SDK is loaded at the first grant, not with the hub: it takes a quarter of a second of CPU to
 * load, which every start (and every test process) paid though most never grant a token.
 */
let sdk: Promise<DeepgramSdk> | undefined;
const loadSdk = (): Promise<DeepgramSdk> => (sdk ??= import('@deepgram/sdk'));

export const DEEPGRAM_BASE_URL = 'https://api.deepgram.com';
export const DEEPGRAM_AGENT_URL = 'wss://agent.deepgram.com/v1/agent/converse';

export interface DeepgramVoiceOptions {
  /** Without a key the port is unavailable (see createVoicePort). */
  apiKey: string | undefined;
  /** REST base for the token grant. Default `https://api.deepgram.com`. */
  baseUrl?: string;
  /** Agent WebSocket URL handed to clients. Default `wss://agent.deepgram.com/v1/agent/converse`. */
  agentUrl?: string;
  /** Token lifetime when the caller names none. Default 30 s, Deepgram's own default. */
  tokenTtlSeconds?: number;
  /** Deadline for one grant, retries included. Default 10 s. */
  timeoutMs?: number;
  /** Retries on 408/429/5xx (the SDK's, ≥ 1 s backoff). Default 1: a client is waiting. */
  maxRetries?: number;
  /** Override parts of the agent (audio format, listen/think/speak providers). */
  agent?: Partial<AgentDefaults>;
  clock?: Clock;
  logger?: PortLogger;
}

/** Chooses the adapter: Deepgram when a key is configured, else a port that says voice is unavailable. */
export function createVoicePort(options: DeepgramVoiceOptions): VoicePort {
  return options.apiKey ? new DeepgramVoice({ ...options, apiKey: options.apiKey }) : new UnavailableVoice(options.agentUrl ?? DEEPGRAM_AGENT_URL);
}

/**
 * VoicePort over Deepgram's Voice Agent API. The token grant uses `@deepgram/sdk` v5, whose `baseUrl`
 * option points REST calls at any host (checked in node_modules: every REST client joins
 * `baseUrl ?? environment.base` with its path), which is how tests use a local fake server.
 *
 * The deadline is ours, not the SDK's. Checked in core/fetcher (makeRequest.mjs, signals.mjs, Fetcher.mjs):
 * the SDK aborts its timeout with the string reason "timeout", so Node's fetch rejects with that string
 * and the SDK reports a status-less DeepgramError instead of DeepgramTimeoutError; it also leaves its
 * timeout timer running when fetch rejects, and its retry sleep ignores the abort signal. So each grant
 * gets its own timer and signal, is raced against them, and the SDK's timeout is only a 2x backstop.
 */
export class DeepgramVoice implements VoicePort {
  readonly available = true;
  readonly agentUrl: string;
  private client: Promise<DeepgramClient> | undefined;
  private readonly clientOptions: ConstructorParameters<typeof DeepgramClient>[0];
  private readonly defaultTtlSeconds: number;
  private readonly timeoutMs: number;
  private readonly agent: AgentDefaults;
  private readonly clock: Clock;
  private readonly logger: PortLogger;

  constructor(options: DeepgramVoiceOptions & { apiKey: string }) {
    this.agentUrl = options.agentUrl ?? DEEPGRAM_AGENT_URL;
    this.defaultTtlSeconds = options.tokenTtlSeconds ?? 30;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.agent = { ...DEFAULT_AGENT, ...options.agent };
    this.clock = options.clock ?? { now: () => new Date() };
    this.logger = options.logger ?? silentLogger;
    // apiKey and baseUrl passed explicitly: the SDK would otherwise read DEEPGRAM_API_KEY itself.
    this.clientOptions = {
      apiKey: options.apiKey,
      baseUrl: options.baseUrl ?? DEEPGRAM_BASE_URL,
      maxRetries: options.maxRetries ?? 1,
      timeoutInSeconds: (2 * this.timeoutMs) / 1000,
    };
  }

  private deepgram(): Promise<DeepgramClient> {
    return (this.client ??= loadSdk().then(({ DeepgramClient }) => new DeepgramClient(this.clientOptions)));
  }

  async grantToken(options: GrantTokenOptions = {}): Promise<VoiceToken> {
    const ttlSeconds = options.ttlSeconds ?? this.defaultTtlSeconds;
    const startedAt = Date.now();
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    try {
      const client = await this.deepgram();
      const granted = await abortable(client.auth.v1.tokens.grant({ ttl_seconds: ttlSeconds }, { abortSignal: signal }), signal);
      if (typeof granted.access_token !== 'string' || granted.access_token === '') throw new VoiceError('upstream_error');
      const expiresIn = granted.expires_in ?? ttlSeconds;
      this.logger.debug({ provider: 'deepgram', ttlSeconds, expiresIn, durationMs: Date.now() - startedAt }, 'voice token granted');
      return { accessToken: granted.access_token, expiresIn, expiresAt: new Date(this.clock.now().getTime() + expiresIn * 1000).toISOString() };
    } catch (error) {
      const failure = options.signal?.aborted ? new VoiceError('cancelled') : deadline.aborted ? new VoiceError('timeout') : toVoiceError(error, await loadSdk());
      this.logger.warn({ provider: 'deepgram', code: failure.code, status: failure.status, durationMs: Date.now() - startedAt }, 'voice token grant failed');
      throw failure;
    }
  }

  agentSettings(input: VoiceAgentSettingsInput): VoiceAgentSettings {
    return buildAgentSettings(this.agent, input);
  }
}

/** The port when no key is configured: a clear, typed refusal instead of a crash at first use. */
export class UnavailableVoice implements VoicePort {
  readonly available = false;

  constructor(readonly agentUrl: string = DEEPGRAM_AGENT_URL) {}

  grantToken(): Promise<VoiceToken> {
    return Promise.reject(new VoiceError('voice_unavailable'));
  }

  agentSettings(): VoiceAgentSettings {
    throw new VoiceError('voice_unavailable');
  }
}

/** Settles with `promise`, or rejects when `signal` aborts, even while the SDK sleeps before a retry. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toVoiceError(error: unknown, { DeepgramError, DeepgramTimeoutError }: DeepgramSdk): VoiceError {
  if (error instanceof VoiceError) return error;
  if (error instanceof DeepgramTimeoutError) return new VoiceError('timeout');
  if (error instanceof DeepgramError && error.statusCode !== undefined) return new VoiceError(codeForStatus(error.statusCode), { status: error.statusCode });
  // No status: the request never got an answer (connection refused, reset, DNS).
  return new VoiceError('upstream_unavailable');
}

function codeForStatus(status: number): VoiceError['code'] {
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'upstream_unavailable';
  if (status >= 400) return 'bad_request';
  return 'upstream_error';
}
