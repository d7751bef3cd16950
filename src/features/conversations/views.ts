/** What leaves the hub about conversations and messages: explicit fields (schemas/http/*-view.json). */
import type { ChatMessageView } from '../../generated/http/chat-message-view.js';
import type { ConversationView } from '../../generated/http/conversation-view.js';
import type { ConversationDoc, MessageDoc } from './models.js';

export type { ChatMessageView, ConversationView };

const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);
const idOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function toConversationView(doc: ConversationDoc): ConversationView {
  return {
    id: String(doc._id),
    organisationId: String(doc.organisationId),
    patientId: String(doc.patientId),
    title: doc.title ?? null,
    channel: doc.channel,
    participants: (doc.participants ?? []).map(String),
    createdBy: String(doc.createdBy),
    messageCount: doc.messageCount ?? 0,
    lastMessageAt: iso(doc.lastMessageAt),
    createdAt: iso(doc.createdAt) ?? new Date(0).toISOString(),
    updatedAt: iso(doc.updatedAt) ?? new Date(0).toISOString(),
  };
}

export function toMessageView(doc: MessageDoc): ChatMessageView {
  const usage = doc.usage;
  const timing = doc.timing;
  return {
    id: String(doc._id),
    conversationId: String(doc.conversationId),
    role: doc.role,
    content: doc.content ?? '',
    status: doc.status,
    authorId: idOrNull(doc.authorId),
    replyTo: idOrNull(doc.replyTo),
    model: doc.model ?? null,
    provider: doc.provider ?? null,
    offline: doc.offline ?? false,
    tokens: doc.tokens ?? 0,
    usage: usage ? { promptTokens: usage.promptTokens ?? 0, completionTokens: usage.completionTokens ?? 0, totalTokens: usage.totalTokens ?? 0 } : null,
    timing: timing
      ? {
          startedAt: iso(timing.startedAt) ?? new Date(0).toISOString(),
          firstTokenMs: timing.firstTokenMs ?? null,
          totalMs: timing.totalMs ?? null,
          completedAt: iso(timing.completedAt),
        }
      : null,
    toolCalls: (doc.toolCalls ?? []).map((call) => ({ id: call.id, name: call.name, ok: call.ok, errorCode: call.errorCode ?? null })),
    error: doc.error?.code ? { code: doc.error.code, message: doc.error.message ?? '' } : null,
    createdAt: iso(doc.createdAt) ?? new Date(0).toISOString(),
  };
}
