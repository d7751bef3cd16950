/**
 * Voice: short-lived Deepgram tokens and agent Settings for voice clients, and the relay of the
 * agent's function calls, run by the same intents as the chat (features/intents). Without
 * DEEPGRAM_API_KEY the routes answer 503 `unavailable`; nothing else changes. Builds on identity,
 * conversations (the assistant's prompt) and intents.
 */
import { createVoicePort } from '../../ports/adapters/deepgram/index.js';
import type { VoicePort } from '../../ports/voice.js';
import type { HubContext } from '../context.js';
import type { Conversations } from '../conversations/index.js';
import type { Identity } from '../identity/index.js';
import type { Intents } from '../intents/index.js';
import { voiceModels } from './models.js';
import { registerVoiceRoutes } from './routes.js';
import { registerVoiceSockets } from './sockets.js';
import { createVoiceService } from './service.js';

export async function registerVoice(ctx: HubContext, deps: { identity: Identity; intents: Intents; conversations: Pick<Conversations, 'chat' | 'conversations'>; voice?: VoicePort }) {
  const log = ctx.logger.child({ feature: 'voice' });
  const models = voiceModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const { deepgram, voice: options } = ctx.config;
  const voice = deps.voice ?? createVoicePort({
    apiKey: deepgram.apiKey,
    ...(deepgram.baseUrl ? { baseUrl: deepgram.baseUrl } : {}),
    ...(deepgram.agentUrl ? { agentUrl: deepgram.agentUrl } : {}),
    tokenTtlSeconds: options.tokenTtlSeconds,
    clock: ctx.clock,
    logger: log,
  });
  const service = createVoiceService({
    models,
    voice,
    policy: deps.identity.policy,
    audit: deps.identity.audit,
    intents: deps.intents,
    chat: deps.conversations.chat,
    conversations: deps.conversations.conversations,
    sockets: ctx.sockets,
    clock: ctx.clock,
    options,
    logger: log,
  });
  registerVoiceRoutes(ctx.http.api, deps.identity.requireUser, service);
  registerVoiceSockets(ctx.sockets, service);
  log.info({ available: voice.available, agentUrl: voice.agentUrl }, voice.available ? 'voice: Deepgram configured' : 'voice: unavailable (no DEEPGRAM_API_KEY)');
  return { models, service, voice };
}

export type Voice = Awaited<ReturnType<typeof registerVoice>>;
