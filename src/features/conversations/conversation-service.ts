/** Conversations and their messages: create, list, read. Always through the policy and into the audit log. */
import { Types } from 'mongoose';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Policy } from '../identity/policy.js';
import type { AssertConversation } from './access.js';
import type { Channel, ConversationDoc, ConversationModels, MessageDoc } from './models.js';
import { toConversationView, toMessageView, type ChatMessageView, type ConversationView } from './views.js';

export interface ConversationCreate {
  patientId: string;
  title?: string;
  channel?: Channel;
}

export interface ConversationQuery extends PageRequest {
  patientId?: string;
}

export interface ConversationService {
  create(actor: Actor, input: ConversationCreate): Promise<ConversationView>;
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
