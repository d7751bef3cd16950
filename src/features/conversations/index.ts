/**
 * Conversations and streaming chat: conversations about a patient, their messages, and the
 * assistant's answers streamed token by token over Socket.IO (room `conversation:{id}`) and SSE
 * (`POST /chat/message` with `stream: true`). Builds on identity (access, audit) and on the language
 * model the composition root chose; facts about the patient (plan, doses, adherence) and the tools
 * the assistant may call come from `intents` (features/intents), built from the doses and reports features.
 */
import { Counter, Histogram } from 'prom-client';
import type { LanguageModel } from '../../ports/language-model.js';
import type { HubContext } from '../context.js';
import type { Identity } from '../identity/index.js';
import { createConversationAccess } from './access.js';
import { createChatService } from './chat-service.js';
import { createConversationService } from './conversation-service.js';
import { conversationModels } from './models.js';
import { DEFAULT_BUDGET, loadPromptTemplate, type ContextBudget } from './prompt.js';
import { registerConversationRoutes } from './routes.js';
import { registerConversationSockets } from './sockets.js';
import { createIntents, type Intents } from '../intents/index.js';

export { selectLanguageModel } from './language-model.js';
export type { PatientFacts } from './facts.js';

export interface ConversationsOptions {
  identity: Identity;
  languageModel: LanguageModel;
  /** The assistant's tools and the patient's facts (features/intents); default: read-only tools over no recorded facts. */
  intents?: Intents;
  budget?: Partial<ContextBudget>;
  /** Tool rounds per answer before the model must answer in words. Default 4. */
  maxToolRounds?: number;
  /** How often a growing answer is saved. Default 1000 ms. */
  checkpointMs?: number;
  /** Comment lines on idle SSE streams. Default 15 s. */
  heartbeatMs?: number;
  /** Prompt template file. Default prompts/system.md. */
  promptTemplatePath?: string;
}

export async function registerConversations(ctx: HubContext, options: ConversationsOptions) {
  const { identity, languageModel } = options;
  const log = ctx.logger.child({ feature: 'conversations' });
  const models = conversationModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));

  const template = loadPromptTemplate(options.promptTemplatePath);
  const intents = options.intents ?? createIntents(ctx, { identity });
  const tools = intents.executor;
  const assertConversation = createConversationAccess(models, identity.policy);
  const metrics = chatMetrics(ctx);

  const conversations = createConversationService({ models, policy: identity.policy, audit: identity.audit, assertConversation });
  const chat = createChatService({
    models,
    assertConversation,
    audit: identity.audit,
    languageModel,
    tools,
    facts: intents.facts,
    template,
    budget: { ...DEFAULT_BUDGET, ...options.budget },
    maxToolRounds: options.maxToolRounds ?? 4,
    checkpointMs: options.checkpointMs ?? 1000,
    publish: (room, event, payload) => ctx.sockets.emit(room, event, payload),
    peers: ctx.sockets,
    clock: ctx.clock,
    logger: log,
    onFirstToken: (seconds) => metrics.firstToken.observe({ provider: languageModel.name }, seconds),
    onTurnEnded: (status) => metrics.turns.inc({ provider: languageModel.name, status }),
  });

  registerConversationRoutes(ctx.http.api, identity.requireUser, conversations, chat, { heartbeatMs: options.heartbeatMs ?? 15_000 });
  registerConversationSockets(ctx.sockets, chat, assertConversation, identity.audit);
  ctx.jobs.add('conversations.interrupted-sweep', '0 * * * * *', () => chat.sweepInterrupted());
  ctx.onClose(() => chat.shutdown());

  log.info(
    { provider: languageModel.name, model: languageModel.defaultModel, offline: languageModel.offline, tools: tools.offered().map((tool) => tool.name) },
    languageModel.offline ? 'assistant: offline model (no OPENAI_API_KEY)' : 'assistant: language model configured',
  );
  return { models, conversations, chat, tools: intents.registry, languageModel };
}

export type Conversations = Awaited<ReturnType<typeof registerConversations>>;

function chatMetrics(ctx: HubContext) {
  return {
    firstToken: new Histogram({
      name: 'medhub_chat_first_token_seconds',
      help: "Time from a chat turn's start to its first token, by provider",
      labelNames: ['provider'],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [ctx.metrics.registry],
    }),
    turns: new Counter({
      name: 'medhub_chat_turns_total',
      help: 'Assistant answers by provider and final status (complete, error, cancelled)',
      labelNames: ['provider', 'status'],
      registers: [ctx.metrics.registry],
    }),
  };
}
