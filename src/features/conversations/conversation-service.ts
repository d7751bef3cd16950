/** Conversations and their messages: create, list, read. Always through the policy and into the audit log. */
import { Types } from 'mongoose';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Policy } from '../identity/policy.js';
import type { AssertConversation } from './access.js';
import type { Channel, ConversationDoc, ConversationModels, MessageDoc } from './models.js';
import { toConversationView, toMessageView, type ChatMessageView, type ConversationView } from './views.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface ConversationCreate {
  patientId: string;
  title?: string;
  channel?: Channel;
}

export interface ConversationQuery extends PageRequest {
  patientId?: string;
}

/** A line said in a voice session, as its agent reported it (Deepgram's ConversationText). */
export interface TranscriptLine {
  /** Names the line (its session and number): a line sent again is stored once. */
  key: string;
  role: 'user' | 'assistant';
  content: string;
  /** The user who spoke a `user` line; null for the agent's. */
  authorId: string | null;
  /** Who wrote an `assistant` line (e.g. `deepgram`). */
  provider: string | null;
}

export interface ConversationService {
  create(actor: Actor, input: ConversationCreate): Promise<ConversationView>;
  /**
   * Appends a voice session's transcript lines to its conversation, in order, each once (a line whose
   * key is stored already is skipped). Access is the caller's to check (features/voice). Returns how
   * many were new.
   */
  appendTranscript(conversation: Pick<ConversationDoc, '_id' | 'organisationId' | 'patientId'>, lines: TranscriptLine[], at: Date): Promise<number>;
  list(actor: Actor, query: ConversationQuery): Promise<Page<ConversationView>>;
  get(actor: Actor, conversationId: string): Promise<ConversationView>;
  messages(actor: Actor, conversationId: string, page: PageRequest): Promise<Page<ChatMessageView>>;
}

const oid = (id: string): Types.ObjectId => new Types.ObjectId(id);

export function createConversationService(deps: { models: ConversationModels; policy: Policy; audit: AuditLog; assertConversation: AssertConversation }): ConversationService {
  const { models, policy, audit, assertConversation } = deps;
  const { Conversation, Message } = models;

  return {
    create(actor, input) {
      return audited(audit, actor, { action: 'conversation.create', objectType: 'patient', objectId: input.patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, input.patientId, 'conversation.write');
        const created = await Conversation.create({
          organisationId: patient.organisationId,
          patientId: patient._id,
          title: input.title ?? null,
          channel: input.channel ?? 'app',
          createdBy: oid(actor.principal.userId),
          participants: [oid(actor.principal.userId)],
        });
        return toConversationView(created.toObject() as ConversationDoc);
      });
    },

    list(actor, query) {
      const page = { cursor: query.cursor, limit: query.limit };
      if (query.patientId) {
        const patientId = query.patientId;
        return audited(audit, actor, { action: 'conversation.list', objectType: 'patient', objectId: patientId }, async () => {
          await policy.assertPatient(actor.principal, patientId, 'conversation.read');
          return paginate(Conversation, { patientId: oid(patientId) }, page, toConversationView);
        });
      }
      return audited(audit, actor, { action: 'conversation.list', objectType: 'conversation' }, async () => {
        const visible = (await policy.visiblePatientIds(actor.principal)).map(oid);
        return paginate(Conversation, { organisationId: oid(actor.principal.organisationId), patientId: { $in: visible } }, page, toConversationView);
      });
    },

    async appendTranscript(conversation, lines, at) {
      if (lines.length === 0) return 0;
      const base = { conversationId: conversation._id, organisationId: conversation.organisationId, patientId: conversation.patientId, status: 'complete' as const };
      const docs = lines.map((line) => ({ ...base, role: line.role, content: line.content, authorId: line.authorId ? oid(line.authorId) : null, provider: line.provider, lineKey: line.key }));
      let stored = lines.length;
      try {
        await Message.insertMany(docs, { ordered: false, throwOnValidationError: true });
      } catch (error) {
        // Lines stored already (two sends racing) are skipped. Anything else — a network error, a write
        // concern not met, a line that does not validate — is the caller's, whatever else went in.
        // The driver's MongoBulkWriteError: writeErrors, and the write concern's failure on its result.
        const failure = error as { writeErrors?: Array<{ code?: number; err?: { code?: number } }>; result?: { getWriteConcernError?: () => unknown } };
        const writeErrors = failure.writeErrors ?? [];
        const onlyDuplicates = writeErrors.length > 0 && writeErrors.every((e) => isDuplicateKey(e) || isDuplicateKey(e.err)) && !failure.result?.getWriteConcernError?.();
        if (!onlyDuplicates) throw error;
        stored -= writeErrors.length;
      }
      if (stored > 0) {
        const authors = [...new Set(lines.flatMap((line) => (line.authorId ? [line.authorId] : [])))].map(oid);
        await Conversation.updateOne({ _id: conversation._id }, { $inc: { messageCount: stored }, $set: { lastMessageAt: at }, $addToSet: { participants: { $each: authors } } });
      }
      return stored;
    },

    get(actor, conversationId) {
      return audited(audit, actor, { action: 'conversation.read', objectType: 'conversation', objectId: conversationId }, async () => {
        const { conversation } = await assertConversation(actor.principal, conversationId, 'conversation.read');
        return toConversationView(conversation);
      });
    },

    messages(actor, conversationId, page) {
      return audited(audit, actor, { action: 'conversation.messages.read', objectType: 'conversation', objectId: conversationId }, async () => {
        const { conversation } = await assertConversation(actor.principal, conversationId, 'conversation.read');
        return paginate<MessageDoc, ChatMessageView>(Message, { conversationId: conversation._id }, { cursor: page.cursor, limit: page.limit }, toMessageView);
      });
    },
  };
}
