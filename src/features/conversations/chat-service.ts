/**
 * Chat: a user writes in a conversation and the assistant answers, streamed token by token to every
 * socket watching `conversation:{id}` (and to the SSE response that asked, if any).
 *
 * `send` checks access, records the user message and an empty `streaming` answer, builds the context
 * (prompt template + the patient's facts within a token budget + trimmed history), announces the turn
 * (`chat:started`) and starts it; it returns as soon as the answer is under way. One answer at a time
 * per conversation (a second `send` meanwhile is a 409). `cancel` stops the answer; so does a client
 * disconnect on SSE; shutdown interrupts what is still running.
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { ChatMessage, LanguageModel } from '../../ports/language-model.js';
import { rooms } from '../../transports/socket/rooms.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Role } from '../identity/models.js';
import type { AssertConversation } from './access.js';
import { INTERRUPTED } from './errors.js';
import type { FactsPatient, PatientFacts } from './facts.js';
import type { ConversationModels, MessageDoc } from './models.js';
import { assistantContext, buildPrompt, type ContextBudget, type Facts, type PromptTemplate } from './prompt.js';
import type { ToolExecutor } from './tools.js';
import { Turn, type CancelReason, type ChatStarted, type TurnListener, type TurnResult } from './turn.js';
import { toMessageView } from './views.js';

export interface ChatSend {
  conversationId: string;
  content: string;
}

export interface SendOptions {
  /** Hears the turn besides the room (the SSE response); registered before anything is emitted. */
  listener?: TurnListener;
  /** Runs after access is checked and before the turn is announced (a socket joins the room here). */
  beforeStart?: () => Promise<void> | void;
}

export interface TurnHandle {
  conversationId: string;
  userMessageId: string;
  messageId: string;
  started: ChatStarted;
  /** Resolves when the answer is stored and its terminal event sent; never rejects. */
  done: Promise<TurnResult>;
  cancel(reason: CancelReason): boolean;
}

export interface StreamingSnapshot {
  messageId: string;
  content: string;
  tokens: number;
}

export interface ChatService {
  send(actor: Actor, input: ChatSend, options?: SendOptions): Promise<TurnHandle>;
  cancel(actor: Actor, input: { conversationId: string; messageId?: string }): Promise<{ cancelled: boolean; messageId: string | null }>;
  /** The answer being written in a conversation, if any: live on this instance, else as last saved. */
  snapshot(conversationId: string): Promise<StreamingSnapshot | null>;
  /** Marks answers left `streaming` by a stopped hub as interrupted (error). Returns how many. */
  sweepInterrupted(olderThanMs?: number): Promise<number>;
  /** Interrupts running answers and waits until they are stored. */
  shutdown(): Promise<void>;
  readonly activeCount: number;
}

export interface ChatDeps {
  models: ConversationModels;
  assertConversation: AssertConversation;
  audit: AuditLog;
  languageModel: LanguageModel;
  tools: ToolExecutor;
  facts: PatientFacts;
  template: PromptTemplate;
  budget: ContextBudget;
  maxToolRounds: number;
  checkpointMs: number;
  publish(room: string, event: string, payload: unknown): void;
  clock: Clock;
  logger: Logger;
  onFirstToken?(seconds: number): void;
  onTurnEnded?(status: string): void;
}

const AUDIENCE: Record<Role, string> = {
  patient: 'the patient themself',
  caregiver: "a caregiver on the patient's care team",
  clinician: "a clinician of the patient's care provider",
  admin: "an administrator of the patient's care provider",
};

const READ_ONLY_CAPABILITIES =
  '- From this chat you cannot yet record symptoms, confirm doses or alert the care team. If asked to, say so and suggest contacting the care team directly.';

const oid = (id: string | Types.ObjectId): Types.ObjectId => (id instanceof Types.ObjectId ? id : new Types.ObjectId(id));

export function createChatService(deps: ChatDeps): ChatService {
  const { models, assertConversation, audit, languageModel, facts, budget, clock } = deps;
  const { Conversation, Message } = models;
  const active = new Map<string, Turn>();
  const starting = new Set<string>();
  let closing = false;

  async function loadFacts(patient: FactsPatient, patientName: string, now: Date): Promise<Facts> {
    const [plan, upcomingDoses, adherence] = await Promise.all([facts.plan(patient), facts.upcomingDoses(patient, now, 10), facts.adherence(patient, 'last_7_days', now)]);
    return { patientName, timeZone: patient.timeZone, now, plan, upcomingDoses, adherence };
  }

  async function send(actor: Actor, input: ChatSend, options: SendOptions = {}): Promise<TurnHandle> {
    return audited(audit, actor, { action: 'conversation.message', objectType: 'conversation', objectId: input.conversationId }, async () => {
      const { conversation, patient } = await assertConversation(actor.principal, input.conversationId, 'conversation.write');
      const conversationId = String(conversation._id);
      if (closing) throw new AppError('unavailable', 'The hub is shutting down');
      if (active.has(conversationId) || starting.has(conversationId)) {
        throw new AppError('conflict', 'The assistant is still answering in this conversation; wait for the answer or cancel it');
      }
      starting.add(conversationId);
      try {
        return await start(actor, input.content, conversation, patient, options);
      } finally {
        starting.delete(conversationId);
      }
    });
  }

  async function start(
    actor: Actor,
    content: string,
    conversation: { _id: Types.ObjectId; organisationId: Types.ObjectId; patientId: Types.ObjectId },
    patient: { _id: Types.ObjectId; organisationId: Types.ObjectId; name: string; timezone: string },
    options: SendOptions,
  ): Promise<TurnHandle> {
    const now = clock.now();
    const conversationId = String(conversation._id);
    const userMessageId = new Types.ObjectId();
    const messageId = new Types.ObjectId();
    const factsPatient: FactsPatient = { id: String(patient._id), organisationId: String(patient.organisationId), timeZone: patient.timezone };
    const base = { conversationId: conversation._id, organisationId: conversation.organisationId, patientId: conversation.patientId };

    const [historyDocs, patientFacts, inserted] = await Promise.all([
      Message.find({ conversationId: conversation._id, _id: { $lt: userMessageId } })
        .sort({ _id: -1 })
        .limit(budget.historyMessages)
        .lean<MessageDoc[]>(),
      loadFacts(factsPatient, patient.name, now),
      Message.insertMany([
        { _id: userMessageId, ...base, role: 'user', authorId: oid(actor.principal.userId), content, status: 'complete' },
        {
          _id: messageId,
          ...base,
          role: 'assistant',
          replyTo: userMessageId,
          status: 'streaming',
          provider: languageModel.name,
          model: languageModel.defaultModel,
          offline: languageModel.offline,
          timing: { startedAt: now },
          activityAt: now,
        },
      ]),
      Conversation.updateOne({ _id: conversation._id }, { $inc: { messageCount: 2 }, $set: { lastMessageAt: now }, $addToSet: { participants: oid(actor.principal.userId) } }),
    ]);

    const prompt = buildPrompt({
      template: deps.template,
      budget,
      facts: patientFacts,
      audience: AUDIENCE[actor.principal.role] ?? 'a member of the care team',
      capabilities: READ_ONLY_CAPABILITIES,
      history: toHistory(historyDocs.reverse()),
      userMessage: content,
    });

    const turn = new Turn(
      { organisationId: String(conversation.organisationId), patientId: String(conversation.patientId), conversationId, userMessageId: String(userMessageId), messageId: String(messageId) },
      {
        models,
        languageModel,
        tools: deps.tools,
        publish: deps.publish,
        room: rooms.conversation(conversationId),
        clock,
        logger: deps.logger,
        maxToolRounds: deps.maxToolRounds,
        checkpointMs: deps.checkpointMs,
        onFirstToken: deps.onFirstToken,
        onSettled: (status) => {
          active.delete(conversationId);
          deps.onTurnEnded?.(status);
        },
      },
    );
    if (options.listener) turn.listen(options.listener);
    active.set(conversationId, turn);
    try {
      await options.beforeStart?.();
    } catch (error) {
      active.delete(conversationId);
      throw error;
    }

    const userDoc = (inserted[0] as unknown as { toObject(): MessageDoc }).toObject();
    const started: ChatStarted = {
      conversationId,
      messageId: String(messageId),
      userMessage: toMessageView(userDoc),
      model: languageModel.defaultModel,
      provider: languageModel.name,
      offline: languageModel.offline,
    };
    turn.announce(started);
    void turn.run({ messages: prompt.messages, context: assistantContext(patientFacts), maxTokens: budget.answerTokens, scope: { actor, patient: factsPatient, now } });
    return {
      conversationId,
      userMessageId: String(userMessageId),
      messageId: String(messageId),
      started,
      done: turn.done,
      cancel: (reason) => turn.cancel(reason),
    };
  }

  return {
    send,

    cancel(actor, input) {
      return audited(audit, actor, { action: 'conversation.cancel', objectType: 'conversation', objectId: input.conversationId }, async () => {
        const { conversation } = await assertConversation(actor.principal, input.conversationId, 'conversation.write');
        const turn = active.get(String(conversation._id));
        if (!turn || (input.messageId !== undefined && turn.ids.messageId !== input.messageId)) return { cancelled: false, messageId: null };
        return { cancelled: turn.cancel('user'), messageId: turn.ids.messageId };
      });
    },

    async snapshot(conversationId) {
      const turn = active.get(conversationId);
      if (turn) return turn.snapshot();
      const saved = await Message.findOne({ conversationId: oid(conversationId), status: 'streaming' }).sort({ _id: -1 }).lean<MessageDoc>();
      return saved ? { messageId: String(saved._id), content: saved.content ?? '', tokens: saved.tokens ?? 0 } : null;
    },

    async sweepInterrupted(olderThanMs = 5 * 60_000) {
      const cutoff = new Date(clock.now().getTime() - olderThanMs);
      const live = [...active.values()].map((turn) => oid(turn.ids.messageId));
      const result = await Message.updateMany(
        { status: 'streaming', activityAt: { $lt: cutoff }, _id: { $nin: live } },
        { $set: { status: 'error', error: { code: INTERRUPTED.code, message: INTERRUPTED.message } } },
      );
      return result.modifiedCount;
    },

    async shutdown() {
      closing = true;
      const running = [...active.values()];
      for (const turn of running) turn.cancel('shutdown');
      await Promise.all(running.map((turn) => turn.done));
    },

    get activeCount() {
      return active.size;
    },
  };
}

/** Earlier messages as the model sees them: user messages, and answers that completed. */
function toHistory(docs: readonly MessageDoc[]): ChatMessage[] {
  const history: ChatMessage[] = [];
  for (const doc of docs) {
    const content = doc.content ?? '';
    if (content.trim() === '') continue;
    if (doc.role === 'user') history.push({ role: 'user', content });
    else if (doc.status === 'complete') history.push({ role: 'assistant', content });
  }
  return history;
}
