/**
 * Voice sessions and the function calls relayed in them.
 *
 * - A session is one user talking to the voice agent about one patient, from its start (token
 *   granted) until `expiresAt`; only its user may relay calls in it.
 * - A call is one Deepgram function call, by its id within the session: claimed (`running`) before it
 *   runs, and `done` with the answer the agent was given, so that a relay sent again (a lost response,
 *   a client retrying) is answered the same and never runs the action twice.
 *
 * Both are kept 30 days after the session ends (TTL indexes), then removed.
 *
 * Models are registered on the hub's connection, never on mongoose's global one.
 */
import { Schema, type Connection, type InferSchemaType, type Types } from 'mongoose';

const sessionSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    userId: { type: Schema.Types.ObjectId, required: true },
    role: { type: String, required: true },
    /** Its conversation (channel `voice`), where its transcript goes. */
    conversationId: { type: Schema.Types.ObjectId, required: true },
    /** The number of the next transcript line to store: lines are stored in order, from 0. */
    transcriptNext: { type: Number, default: 0 },
    expiresAt: { type: Date, required: true },
  },
  { timestamps: { createdAt: true, updatedAt: false } },
);
sessionSchema.index({ patientId: 1, _id: -1 });
// Kept 30 days after they end, with their calls: what they recorded lives on in the doses, reports and audit log.
export const VOICE_RETENTION_SECONDS = 30 * 86_400;
sessionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: VOICE_RETENTION_SECONDS });

const callSchema = new Schema(
  {
    sessionId: { type: Schema.Types.ObjectId, required: true },
    callId: { type: String, required: true },
    name: { type: String, required: true },
    /** The model's arguments, capped: the record of what was asked. */
    arguments: { type: String, required: true },
    status: { type: String, enum: ['running', 'done'], required: true },
    /** When the claim was taken or last renewed (or taken over from a stopped hub). */
    claimedAt: { type: Date, required: true },
    /** The relay holding the claim: its renewals and its answer name it, so one taken over writes nothing. */
    claimToken: { type: String, required: true },
    ok: { type: Boolean, default: null },
    errorCode: { type: String, default: null },
    /** The FunctionCallResponse content the agent was given. */
    content: { type: String, default: null },
  },
  { timestamps: { createdAt: true, updatedAt: false } },
);
callSchema.index({ sessionId: 1, callId: 1 }, { unique: true });
// A session lasts at most a day (VOICE_SESSION_MINUTES): its calls go a day after it at the latest.
callSchema.index({ createdAt: 1 }, { expireAfterSeconds: VOICE_RETENTION_SECONDS + 86_400 });

export type VoiceSessionDoc = InferSchemaType<typeof sessionSchema> & { _id: Types.ObjectId; createdAt: Date };
export type VoiceCallDoc = InferSchemaType<typeof callSchema> & { _id: Types.ObjectId; createdAt: Date };

export function voiceModels(connection: Connection) {
  return {
    VoiceSession: connection.model<VoiceSessionDoc>('VoiceSession', sessionSchema, 'voice_sessions'),
    VoiceCall: connection.model<VoiceCallDoc>('VoiceCall', callSchema, 'voice_calls'),
  };
}

export type VoiceModels = ReturnType<typeof voiceModels>;
