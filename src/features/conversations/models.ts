/**
 * Conversations with the assistant, their messages, and the log of language-model requests.
 *
 * - A conversation is about one patient (its organisation is copied for scoping) and happens on one
 *   channel: the app, a voice session or a dispenser. It holds the claim of the answer being written
 *   (internal; not in its view).
 * - A message is a user's text or the assistant's answer. An answer is created `streaming`, saved about
 *   once a second while it grows (`content` + `tokens`, the number of token events it holds, so a client
 *   that missed events can catch up), and ends `complete`, `error` or `cancelled`. Tool calls the answer
 *   made are kept with it (arguments and result, for the record; the API shows name and outcome).
 * - The LLM request log has one entry per upstream request (one per tool round): model, latencies,
 *   token counts and outcome. Never the text.
 *
 * Models are registered on the hub's connection, never on mongoose's global one.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';

export const CHANNELS = ['app', 'voice', 'device'] as const;
export type Channel = (typeof CHANNELS)[number];

export const MESSAGE_STATUSES = ['streaming', 'complete', 'error', 'cancelled'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const LLM_OUTCOMES = ['complete', 'tool_calls', 'error', 'cancelled'] as const;
export type LlmOutcome = (typeof LLM_OUTCOMES)[number];

const conversationSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    title: { type: String, default: null },
    channel: { type: String, enum: CHANNELS, required: true, default: 'app' },
    createdBy: { type: Schema.Types.ObjectId, required: true },
    /** Users who created the conversation or wrote in it. */
    participants: { type: [Schema.Types.ObjectId], default: [] },
    messageCount: { type: Number, default: 0 },
    lastMessageAt: { type: Date, default: null },
    /** The answer being written, claimed by the instance writing it (one at a time, claims.ts), and until when the claim holds. */
    activeMessageId: { type: Schema.Types.ObjectId, default: null },
    activeUntil: { type: Date, default: null },
  },
  { timestamps: true },
);
conversationSchema.index({ patientId: 1, _id: -1 });
conversationSchema.index({ organisationId: 1, _id: -1 });

const toolCallSchema = new Schema(
  {
    id: { type: String, required: true },
    name: { type: String, required: true },
    /** The model's raw JSON arguments, capped. */
    arguments: { type: String, default: '' },
    /** The result string sent back to the model, capped. */
    result: { type: String, default: '' },
    ok: { type: Boolean, required: true },
    errorCode: { type: String, default: null },
    round: { type: Number, required: true },
  },
  { _id: false },
);

const messageSchema = new Schema(
  {
    conversationId: { type: Schema.Types.ObjectId, required: true },
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    role: { type: String, enum: ['user', 'assistant'], required: true },
    authorId: { type: Schema.Types.ObjectId, default: null },
    replyTo: { type: Schema.Types.ObjectId, default: null },
    content: { type: String, default: '' },
    status: { type: String, enum: MESSAGE_STATUSES, required: true },
    /** Token events the content holds (answers). */
    tokens: { type: Number, default: 0 },
    model: { type: String, default: null },
    provider: { type: String, default: null },
    offline: { type: Boolean, default: false },
    usage: {
      type: new Schema({ promptTokens: Number, completionTokens: Number, totalTokens: Number }, { _id: false }),
      default: null,
    },
    timing: {
      type: new Schema({ startedAt: Date, firstTokenMs: Number, totalMs: Number, completedAt: Date }, { _id: false }),
      default: null,
    },
    toolCalls: { type: [toolCallSchema], default: [] },
    error: { type: new Schema({ code: String, message: String }, { _id: false }), default: null },
    /** Last save while streaming (hub clock): the interrupted-answer sweep looks at it. */
    activityAt: { type: Date, default: null },
    /** A line of a voice session's transcript: what names it (its session and number), so that it is stored once. Absent otherwise (the index is sparse). */
    lineKey: { type: String },
  },
  { timestamps: true },
);
messageSchema.index({ conversationId: 1, _id: -1 });
messageSchema.index({ lineKey: 1 }, { unique: true, sparse: true });
messageSchema.index({ status: 1, activityAt: 1 });

const llmRequestSchema = new Schema(
  {
    at: { type: Date, required: true },
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    conversationId: { type: Schema.Types.ObjectId, required: true },
    messageId: { type: Schema.Types.ObjectId, required: true },
    /** 0 for the first request of a turn, then one more per tool round. */
    round: { type: Number, required: true },
    provider: { type: String, required: true },
    model: { type: String, required: true },
    offline: { type: Boolean, required: true },
    /** Messages sent, and the hub's estimate of their tokens (the budget it applied). */
    messageCount: { type: Number, required: true },
    promptTokensEstimate: { type: Number, required: true },
    toolsOffered: { type: Number, required: true },
    /** From sending the request to the first event (token or tool call); null when none came. */
    firstTokenMs: { type: Number, default: null },
    totalMs: { type: Number, required: true },
    tokenEvents: { type: Number, default: 0 },
    toolCalls: { type: Number, default: 0 },
    promptTokens: { type: Number, default: null },
    completionTokens: { type: Number, default: null },
    totalTokens: { type: Number, default: null },
    finishReason: { type: String, default: null },
    outcome: { type: String, enum: LLM_OUTCOMES, required: true },
    errorCode: { type: String, default: null },
    upstreamStatus: { type: Number, default: null },
  },
  { versionKey: false },
);
llmRequestSchema.index({ organisationId: 1, at: -1 });
llmRequestSchema.index({ conversationId: 1 });

export type ConversationDoc = InferSchemaType<typeof conversationSchema> & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export type MessageDoc = InferSchemaType<typeof messageSchema> & { _id: Types.ObjectId; createdAt: Date; updatedAt: Date };
export type LlmRequestDoc = InferSchemaType<typeof llmRequestSchema> & { _id: Types.ObjectId };
export type ToolCallRecord = InferSchemaType<typeof toolCallSchema>;

export interface ConversationModels {
  Conversation: Model<ConversationDoc>;
  Message: Model<MessageDoc>;
  LlmRequest: Model<LlmRequestDoc>;
}

export function conversationModels(connection: Connection): ConversationModels {
  return {
    Conversation: connection.model<ConversationDoc>('Conversation', conversationSchema),
    Message: connection.model<MessageDoc>('Message', messageSchema, 'conversation_messages'),
    LlmRequest: connection.model<LlmRequestDoc>('LlmRequest', llmRequestSchema, 'llm_requests'),
  };
}
