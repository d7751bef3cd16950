/**
 * Chat: a user writes in a conversation and the assistant answers, streamed token by token to every
 * socket watching `conversation:{id}` (and to the SSE response that asked, if any).
 *
 * `send` checks access, records the user message and an empty `streaming` answer, builds the context
 * (prompt template + the patient's facts within a token budget + trimmed history), announces the turn
 * (`chat:started`) and starts it; it returns as soon as the answer is under way. One answer at a time
 * per conversation, across instances (a second `send` meanwhile is a 409; claims.ts). `cancel` stops
 * the answer, wherever it runs (peer-cancel.ts); so does a client disconnect on SSE; shutdown
 * interrupts what is still running.
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
import { createTurnClaims } from './claims.js';
import { chatErrorEvent, INTERRUPTED } from './errors.js';
import type { FactsPatient, PatientFacts } from './facts.js';
import type { ConversationDoc, ConversationModels, MessageDoc } from './models.js';
import { createPeerCancel, type Peers } from './peer-cancel.js';
import { assistantContext, buildPrompt, renderSystemPrompt, type ContextBudget, type Facts, type PromptTemplate } from './prompt.js';
import type { ToolExecutor } from '../intents/executor.js';
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
  /**
   * The assistant's system prompt about a patient, as a chat answer to `role` would begin: the same
   * template, facts and capabilities. A voice session's agent is given it (features/voice).
   */
  systemPrompt(role: Role, patient: SendPatient, now: Date): Promise<string>;
  /** Cancels the answer being written, on this instance or another; `cancelled: false` with its id when it had already finished. */
  cancel(actor: Actor, input: { conversationId: string; messageId?: string }): Promise<{ cancelled: boolean; messageId: string | null }>;
  /**
   * The answer being written in a conversation, if any: live on this instance, else as last saved —
   * unless it has been quiet so long that it is taken for left behind by a stopped hub (no terminal
   * event would ever come for it; the sweep will mark it interrupted).
   */
  snapshot(conversationId: string): Promise<StreamingSnapshot | null>;
  /**
   * Marks answers left `streaming` by a stopped hub as interrupted (error) and tells their rooms
   * (`chat:error`, code `interrupted`). Returns how many.
   */
  sweepInterrupted(olderThanMs?: number): Promise<number>;
  /** Interrupts running answers, and those of sends still starting, and waits until they are stored. */
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
  /** The other hub instances, to cancel an answer one of them runs. */
  peers: Peers;
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

type SendConversation = { _id: Types.ObjectId; organisationId: Types.ObjectId; patientId: Types.ObjectId };
type SendPatient = { _id: Types.ObjectId; organisationId: Types.ObjectId; name: string; timezone: string };

const factsPatientOf = (patient: SendPatient): FactsPatient => ({ id: String(patient._id), organisationId: String(patient.organisationId), timeZone: patient.timezone });
type CancelResult = { cancelled: boolean; messageId: string | null };

const NOTHING_CANCELLED: CancelResult = { cancelled: false, messageId: null };

const stillAnswering = (): AppError => new AppError('conflict', 'The assistant is still answering in this conversation; wait for the answer or cancel it');

const oid = (id: string | Types.ObjectId): Types.ObjectId => (id instanceof Types.ObjectId ? id : new Types.ObjectId(id));

/**
 * A streaming answer not saved for this long, and not live on this instance, was left by a hub that
 * stopped: the instance writing an answer saves it within a second of each token, and its activity
 * every KEEP_ALIVE_MS (turn.ts) even when no token comes.
 */
export const STALE_ANSWER_MS = 5 * 60_000;
/** Answers the sweep interrupts per run (it runs every minute): bounded work after a crash. */
const SWEEP_BATCH = 200;

export function createChatService(deps: ChatDeps): ChatService {
  const { models, assertConversation, audit, languageModel, facts, budget, clock } = deps;
  const { Conversation, Message } = models;
  const active = new Map<string, Turn>();
  /** Sends past the `closing` check that are recording their messages; shutdown waits for them. */
  const starting = new Map<string, Promise<TurnHandle>>();
  let closing = false;
  const claims = createTurnClaims(models, clock, deps.logger);
  const peerCancel = createPeerCancel(deps.peers, (conversationId, messageId) => {
    const turn = active.get(conversationId);
    return turn?.ids.messageId === messageId ? turn.cancel('user') : undefined;
  });

  /** What the system prompt is made of for a reader in `role`, whether a chat answer or a voice session follows. */
  function systemInput(role: Role, facts: Facts) {
    return { template: deps.template, budget, facts, audience: AUDIENCE[role] ?? 'a member of the care team', capabilities: deps.tools.capabilities() };
  }

  async function loadFacts(patient: FactsPatient, patientName: string, now: Date): Promise<Facts> {
    const [plan, upcomingDoses, adherence] = await Promise.all([facts.plan(patient), facts.upcomingDoses(patient, now, 10), facts.adherence(patient, 'last_7_days', now)]);
    return { patientName, timeZone: patient.timeZone, now, plan, upcomingDoses, adherence };
  }

  async function send(actor: Actor, input: ChatSend, options: SendOptions = {}): Promise<TurnHandle> {
    return audited(audit, actor, { action: 'conversation.message', objectType: 'conversation', objectId: input.conversationId }, async () => {
      const { conversation, patient } = await assertConversation(actor.principal, input.conversationId, 'conversation.write');
      const conversationId = String(conversation._id);
      if (closing) throw new AppError('unavailable', 'The hub is shutting down');
      if (active.has(conversationId) || starting.has(conversationId)) throw stillAnswering();
      const started = start(actor, input.content, conversation, patient, options);
      starting.set(conversationId, started);
      try {
        return await started;
      } finally {
        starting.delete(conversationId);
      }
    });
  }

  /** Claims the conversation's turn (another instance may be answering), then begins the answer. */
  async function start(actor: Actor, content: string, conversation: SendConversation, patient: SendPatient, options: SendOptions): Promise<TurnHandle> {
    // In this order: messages page by _id, the question before its answer.
    const ids = { userMessageId: new Types.ObjectId(), messageId: new Types.ObjectId() };
    if (!(await claims.claim(conversation._id, ids.messageId))) throw stillAnswering();
    try {
      return await begin(actor, content, conversation, patient, options, ids);
    } catch (error) {
      await claims.release(conversation._id, ids.messageId);
      throw error;
    }
  }

  async function begin(
    actor: Actor,
    content: string,
    conversation: SendConversation,
    patient: SendPatient,
    options: SendOptions,
    { userMessageId, messageId }: { userMessageId: Types.ObjectId; messageId: Types.ObjectId },
  ): Promise<TurnHandle> {
    const now = clock.now();
    const conversationId = String(conversation._id);
    const factsPatient = factsPatientOf(patient);
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

    const prompt = buildPrompt({ ...systemInput(actor.principal.role, patientFacts), history: toHistory(historyDocs.reverse()), userMessage: content });

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
        onKeepAlive: async (at) => {
          // Two answers must not write into one conversation: one whose turn was taken stops.
          if (await claims.extend(conversation._id, messageId, at)) return;
          deps.logger.warn({ conversationId, messageId: String(messageId) }, 'the answer lost its claim on the conversation to another; interrupting it');
          turn.cancel('claim_lost');
        },
        onStored: () => claims.release(conversation._id, messageId),
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
    void turn.run({ messages: prompt.messages, context: assistantContext(patientFacts), maxTokens: budget.answerTokens, scope: { actor, patient: factsPatient, now, origin: { source: 'chat', ref: conversationId, key: `chat:${String(messageId)}` } } });
    return {
      conversationId,
      userMessageId: String(userMessageId),
      messageId: String(messageId),
      started,
      done: turn.done,
      cancel: (reason) => turn.cancel(reason),
    };
  }

  function cancelHere(turn: Turn, messageId: string | undefined): CancelResult {
    if (messageId !== undefined && turn.ids.messageId !== messageId) return NOTHING_CANCELLED;
    return { cancelled: turn.cancel('user'), messageId: turn.ids.messageId };
  }

  /** The answer runs on another instance if the conversation's claim is current and not one of ours still starting. */
  async function cancelElsewhere(conversation: ConversationDoc, messageId: string | undefined): Promise<CancelResult> {
    const conversationId = String(conversation._id);
    const holder = claims.holder(conversation);
    if (!holder || starting.has(conversationId) || (messageId !== undefined && holder !== messageId)) return NOTHING_CANCELLED;
    return { cancelled: await peerCancel.cancel(conversationId, holder), messageId: holder };
  }

  /** Stale: not saved within STALE_ANSWER_MS (and, the caller has checked, not live here). */
  function isStale(message: MessageDoc): boolean {
    return !message.activityAt || message.activityAt.getTime() < clock.now().getTime() - STALE_ANSWER_MS;
  }

  /**
   * Marks one answer interrupted and tells its room, as a turn ending in error would. Only if it is
   * still streaming and still stale: a save since the sweep read it means it is alive somewhere.
   */
  async function interrupt(messageId: Types.ObjectId, cutoff: Date): Promise<boolean> {
    const doc = await Message.findOneAndUpdate(
      { _id: messageId, status: 'streaming', activityAt: { $lt: cutoff } },
      { $set: { status: 'error', error: { code: INTERRUPTED.code, message: INTERRUPTED.message } } },
      { returnDocument: 'after' },
    ).lean<MessageDoc>();
    if (!doc) return false;
    const conversationId = String(doc.conversationId);
    deps.publish(rooms.conversation(conversationId), 'chat:error', chatErrorEvent(conversationId, String(doc._id), INTERRUPTED, toMessageView(doc)));
    return true;
  }

  return {
    send,

    async systemPrompt(role: Role, patient: SendPatient, now: Date): Promise<string> {
      return renderSystemPrompt(systemInput(role, await loadFacts(factsPatientOf(patient), patient.name, now)));
    },

    cancel(actor, input) {
      return audited(audit, actor, { action: 'conversation.cancel', objectType: 'conversation', objectId: input.conversationId }, async () => {
        // The answer being written when the cancel was asked: if it finishes during the access check,
        // the ack still names it (too late, cancelled: false) rather than claim nothing was streaming.
        const asked = active.get(input.conversationId);
        const { conversation } = await assertConversation(actor.principal, input.conversationId, 'conversation.write');
        const turn = asked ?? active.get(String(conversation._id));
        if (turn) return cancelHere(turn, input.messageId);
        return cancelElsewhere(conversation, input.messageId);
      });
    },

    async snapshot(conversationId) {
      const turn = active.get(conversationId);
      if (turn) return turn.snapshot();
      const saved = await Message.findOne({ conversationId: oid(conversationId), status: 'streaming' }).sort({ _id: -1 }).lean<MessageDoc>();
      if (!saved || isStale(saved)) return null;
      return { messageId: String(saved._id), content: saved.content ?? '', tokens: saved.tokens ?? 0 };
    },

    async sweepInterrupted(olderThanMs = STALE_ANSWER_MS) {
      const cutoff = new Date(clock.now().getTime() - olderThanMs);
      const live = [...active.values()].map((turn) => oid(turn.ids.messageId));
      const stale = await Message.find({ status: 'streaming', activityAt: { $lt: cutoff }, _id: { $nin: live } }, { _id: 1 })
        .limit(SWEEP_BATCH)
        .lean<Array<{ _id: Types.ObjectId }>>();
      let interrupted = 0;
      for (const { _id } of stale) if (await interrupt(_id, cutoff)) interrupted += 1;
      return interrupted;
    },

    async shutdown() {
      closing = true;
      // A send past the closing check becomes active once its messages are recorded: wait for it, so
      // its turn is interrupted below rather than left running while the hub closes under it.
      await Promise.allSettled(starting.values());
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
    // A voice transcript's lines are the client's report of what was said, not the assistant's own turns.
    if (doc.lineKey) continue;
    if (doc.role === 'user') history.push({ role: 'user', content });
    else if (doc.status === 'complete') history.push({ role: 'assistant', content });
  }
  return history;
}
