/**
 * Voice sessions: a user talks to Deepgram's Voice Agent about a patient; the hub never carries audio.
 *
 * `start` checks the caller may act for the patient, builds the agent's Settings — the chat
 * assistant's own system prompt (template, facts, capabilities) and the same tools as Deepgram
 * functions, those that change the record held until the user's turn ends — and grants a short-lived
 * Deepgram token. `relay` runs the FunctionCallRequests the client forwards, with the session user's
 * permissions checked again (access can be withdrawn mid-session), each call once (calls.ts), and tells
 * whoever may see the patient (`voice:intent`).
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { VoiceError, type VoicePort } from '../../ports/voice.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { patientAudience } from '../../transports/socket/rooms.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ChatService } from '../conversations/chat-service.js';
import type { ConversationService } from '../conversations/conversation-service.js';
import { audited, type Actor } from '../identity/actor.js';
import type { PatientDoc, Role } from '../identity/models.js';
import type { Policy } from '../identity/policy.js';
import type { Intents } from '../intents/index.js';
import { createCallRunner, type FunctionCallResponse, type RelayedFunction } from './calls.js';
import type { VoiceModels, VoiceSessionDoc } from './models.js';
import type { VoiceSessionView } from '../../generated/http/voice-session-view.js';

/** The prompt is written once, when the session starts; the agent is told so. */
const VOICE_NOTE = [
  'This is a spoken conversation: answer in short sentences, without lists or symbols.',
  'The current time and the doses above are as of the start of this session. Leave taken_at out of confirm_dose unless the person says the clock time they took it.',
].join(' ');

/** Transcript lines are accepted this long after a session ends: the last lines of a call that ran to the end. */
const TRANSCRIPT_GRACE_MS = 10 * 60_000;

export interface TranscriptInput {
  seq: number;
  role: 'user' | 'assistant';
  content: string;
}

export interface VoiceOptions {
  tokenTtlSeconds: number;
  sessionMinutes: number;
}

interface Deps {
  models: VoiceModels;
  voice: VoicePort;
  policy: Policy;
  audit: AuditLog;
  intents: Intents;
  chat: Pick<ChatService, 'systemPrompt'>;
  conversations: Pick<ConversationService, 'create' | 'appendTranscript'>;
  sockets: Pick<SocketTransport, 'emit'>;
  clock: Clock;
  options: VoiceOptions;
  logger: Logger;
}

export function createVoiceService(deps: Deps) {
  const { models, voice, policy, audit, intents, clock, options, logger } = deps;
  const { VoiceSession } = models;
  const calls = createCallRunner({
    models,
    executor: intents.executor,
    clock,
    onRun: (session, fn, run) => {
      const intent = { sessionId: String(session._id), patientId: String(session.patientId), userId: String(session.userId), callId: fn.id, name: fn.name, ok: run.ok, errorCode: run.errorCode, at: clock.now().toISOString() };
      deps.sockets.emit(patientAudience({ id: intent.patientId, organisationId: String(session.organisationId) }), 'voice:intent', intent);
      logger.info({ sessionId: intent.sessionId, tool: fn.name, ok: run.ok, errorCode: run.errorCode }, 'voice function call');
    },
  });

  function greeting(role: Role, patient: PatientDoc): string {
    const can = 'tell you about the medication, note a dose taken or a symptom, or ask the care team for help';
    return role === 'patient' ? `Hello ${patient.name}. I can ${can}.` : `Hello. I'm here about ${patient.name}. I can ${can}.`;
  }

  /** A session that has ended runs nothing new, but still answers the calls it ran (a response lost near its end). */
  async function answeredAfterEnd(session: VoiceSessionDoc, functions: RelayedFunction[]): Promise<FunctionCallResponse[]> {
    const answered = await Promise.all(functions.map((fn) => (fn.client_side === false ? notForTheClient(fn) : calls.answered(session, fn))));
    if (answered.some((response) => response === null)) throw new AppError('gone', 'The voice session has ended; start a new one');
    return answered as FunctionCallResponse[];
  }

  async function grant() {
    try {
      return await voice.grantToken({ ttlSeconds: options.tokenTtlSeconds });
    } catch (error) {
      throw toAppError(error);
    }
  }

  /** The caller's own session (another user's does not exist for them), with the patient they must still be allowed to act for. */
  async function ownSession(actor: Actor, sessionId: string) {
    const session = Types.ObjectId.isValid(sessionId)
      ? await VoiceSession.findOne({ _id: new Types.ObjectId(sessionId), userId: new Types.ObjectId(actor.principal.userId) }).lean<VoiceSessionDoc>()
      : null;
    if (!session) throw new AppError('not_found', 'Voice session not found');
    const patient = await policy.assertPatient(actor.principal, String(session.patientId), 'conversation.write');
    return { session, patient };
  }

  return {
    /** `available` false: no DEEPGRAM_API_KEY; starting a session answers 503. */
    available: voice.available,

    async start(actor: Actor, input: { patientId: string }): Promise<VoiceSessionView> {
      return audited(audit, actor, { action: 'voice.session.start', objectType: 'patient', objectId: input.patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, input.patientId, 'conversation.write');
        if (!voice.available) throw new AppError('unavailable', 'Voice is not configured on this hub (DEEPGRAM_API_KEY is not set)', { expose: true });
        const now = clock.now();
        const role = actor.principal.role;
        const settings = voice.agentSettings({
          prompt: `${await deps.chat.systemPrompt(role, patient, now)}\n\n${VOICE_NOTE}`,
          functions: intents.registry.deepgramFunctions({ names: intents.executor.offered().map((tool) => tool.name) }),
          greeting: greeting(role, patient),
        });
        const token = await grant();
        const conversation = await deps.conversations.create(actor, { patientId: String(patient._id), channel: 'voice', title: 'Voice session' });
        const session = await VoiceSession.create({
          organisationId: patient.organisationId,
          patientId: patient._id,
          userId: new Types.ObjectId(actor.principal.userId),
          role,
          conversationId: new Types.ObjectId(conversation.id),
          expiresAt: new Date(now.getTime() + options.sessionMinutes * 60_000),
        });
        const id = String(session._id);
        return { sessionId: id, patientId: String(patient._id), conversationId: conversation.id, expiresAt: session.expiresAt.toISOString(), agentUrl: voice.agentUrl, token, settings: settings as unknown as VoiceSessionView['settings'] };
      });
    },

    async relay(actor: Actor, sessionId: string, functions: RelayedFunction[]): Promise<{ responses: FunctionCallResponse[] }> {
      const { session, patient } = await ownSession(actor, sessionId);
      if (session.expiresAt <= clock.now()) return { responses: await answeredAfterEnd(session, functions) };
      const responses: FunctionCallResponse[] = [];
      // In order, one at a time: the agent asked for them in this order.
      for (const fn of functions) {
        if (fn.client_side === false) {
          responses.push(notForTheClient(fn));
          continue;
        }
        const scope = { actor, patient: { id: String(patient._id), organisationId: String(patient.organisationId), timeZone: patient.timezone }, now: clock.now(), origin: { source: 'voice' as const, ref: sessionId } };
        responses.push(await calls.run(session, fn, scope));
      }
      return { responses };
    },

    /**
     * Appends transcript lines (Deepgram's ConversationText, numbered by the client from 0) to the
     * session's conversation, in order: lines already stored are skipped, and a batch that would leave a
     * gap (a line missing before it) is refused (409) so the transcript never reads out of order. Accepted
     * until TRANSCRIPT_GRACE_MS after the session ends, for the last lines of a call that ran to its end.
     */
    async transcript(actor: Actor, sessionId: string, lines: TranscriptInput[]): Promise<{ stored: number; next: number; conversationId: string }> {
      return audited(audit, actor, { action: 'voice.transcript', objectType: 'voiceSession', objectId: sessionId }, async () => {
        const { session } = await ownSession(actor, sessionId);
        if (session.expiresAt.getTime() + TRANSCRIPT_GRACE_MS <= clock.now().getTime()) throw new AppError('gone', 'The voice session has ended; its transcript is closed');
        const next = session.transcriptNext ?? 0;
        const fresh = [...new Map(lines.filter((line) => line.seq >= next).map((line) => [line.seq, line])).values()].sort((a, b) => a.seq - b.seq);
        const gap = fresh.findIndex((line, index) => line.seq !== next + index);
        if (gap !== -1) {
          throw new AppError('conflict', `Line ${next + gap} is missing: send the transcript in order, from line ${next}`, { details: [{ path: '/lines', message: `expected line ${next + gap}` }] });
        }
        const conversation = { _id: session.conversationId, organisationId: session.organisationId, patientId: session.patientId };
        const stored = await deps.conversations.appendTranscript(conversation, fresh.map((line) => ({
          key: `voice:${sessionId}:${line.seq}`,
          role: line.role,
          content: line.content,
          authorId: line.role === 'user' ? String(session.userId) : null,
          provider: line.role === 'assistant' ? 'deepgram' : null,
        })), clock.now());
        const after = next + fresh.length;
        // Every line below `after` is stored now (by this send, or by one racing it): the mark only moves up.
        if (fresh.length > 0) await VoiceSession.updateOne({ _id: session._id }, { $max: { transcriptNext: after } });
        return { stored, next: after, conversationId: String(session.conversationId) };
      });
    },
  };
}

export type VoiceService = ReturnType<typeof createVoiceService>;

/** A function Deepgram runs itself (it has an endpoint): the hub's agent has none, so it is refused, not run. */
function notForTheClient(fn: RelayedFunction): FunctionCallResponse {
  const content = JSON.stringify({ ok: false, error: { code: 'not_client_side', message: `${fn.name} is not run by this client.` } });
  return { type: 'FunctionCallResponse', id: fn.id, name: fn.name, content };
}

/** The provider's failure as the caller should see it: VoiceError's fixed texts, never the provider's. */
function toAppError(error: unknown): AppError {
  if (!(error instanceof VoiceError)) return new AppError('upstream_error', 'The voice provider failed', { cause: error });
  switch (error.code) {
    case 'voice_unavailable':
      return new AppError('unavailable', error.message, { cause: error, expose: true });
    case 'timeout':
      return new AppError('upstream_timeout', error.message, { cause: error, expose: true });
    case 'rate_limited':
    case 'upstream_unavailable':
      return new AppError('unavailable', error.message, { cause: error, expose: true, headers: { 'Retry-After': '5' } });
    default:
      return new AppError('upstream_error', error.message, { cause: error, expose: true });
  }
}
