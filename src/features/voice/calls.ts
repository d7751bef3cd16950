/**
 * Runs each relayed function call once. A call is claimed by inserting its record (unique on the
 * session and Deepgram's call id) before it runs; a relay of the same id finds the claim and answers
 * what the first run answered, waiting for it if it is still running. The claim is renewed while the
 * tool runs, so only a claim left by a hub that stopped mid-call goes stale (CLAIM_STALE_MS) and is
 * taken over. Running such a call again records nothing twice: each run carries the call's key
 * (`voice:<session>:<call>`), with which a symptom or help request already stored is answered as it
 * is, and confirm_dose answers "already recorded" for a dose it confirmed.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { ToolExecutor, ToolRun, ToolScope } from '../intents/index.js';
import type { VoiceCallDoc, VoiceModels, VoiceSessionDoc } from './models.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface RelayedFunction {
  id: string;
  name: string;
  arguments: string;
  /** Deepgram's: false for a function it runs itself (one with an endpoint). */
  client_side?: boolean;
}

/** Deepgram's FunctionCallResponse, for the client to send to the agent verbatim. */
export interface FunctionCallResponse {
  type: 'FunctionCallResponse';
  id: string;
  name: string;
  content: string;
}

export const CLAIM_STALE_MS = 30_000;
const CLAIM_RENEW_MS = 10_000;
/** A run is renewed this long at most: one stuck longer (a store or an alert that hangs) lets another relay take the call over. */
const MAX_RUN_MS = 120_000;
const WAIT_FOR_RUNNING_MS = 10_000;
const POLL_MS = 50;
const MAX_STORED = 4000;

const stillRunning = (fn: RelayedFunction): AppError => new AppError('conflict', `Function call ${fn.id} is still running; relay it again shortly`, { headers: { 'Retry-After': '1' } });

export function createCallRunner(deps: { models: VoiceModels; executor: ToolExecutor; clock: Clock; onRun: (session: VoiceSessionDoc, fn: RelayedFunction, run: ToolRun) => void }) {
  const { VoiceCall } = deps.models;

  const answer = (fn: RelayedFunction, content: string): FunctionCallResponse => ({ type: 'FunctionCallResponse', id: fn.id, name: fn.name, content });

  /** This relay's claim token when it took the call (first, or over a stale claim); null when another holds it. */
  async function claim(session: VoiceSessionDoc, fn: RelayedFunction): Promise<string | null> {
    const now = deps.clock.now();
    const token = randomUUID();
    try {
      await VoiceCall.create({ sessionId: session._id, callId: fn.id, name: fn.name, arguments: fn.arguments.slice(0, MAX_STORED), status: 'running', claimedAt: now, claimToken: token });
      return token;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
    const taken = await VoiceCall.findOneAndUpdate(
      { sessionId: session._id, callId: fn.id, name: fn.name, status: 'running', claimedAt: { $lt: new Date(now.getTime() - CLAIM_STALE_MS) } },
      { $set: { claimedAt: now, claimToken: token } },
    ).lean();
    return taken ? token : null;
  }

  /** The answer of a call already claimed, once it is done; null when its claim was freed meanwhile (its run failed). */
  async function awaitDone(session: VoiceSessionDoc, fn: RelayedFunction): Promise<FunctionCallResponse | null> {
    const deadline = Date.now() + WAIT_FOR_RUNNING_MS;
    for (;;) {
      const call = await stored(session, fn.id);
      if (!call) return null;
      const done = answerOf(fn, call);
      if (done) return done;
      if (Date.now() > deadline) throw stillRunning(fn);
      await sleep(POLL_MS);
    }
  }

  /** The stored answer of a call that is done, or null while it runs; a call id used for another function is refused. */
  function answerOf(fn: RelayedFunction, call: VoiceCallDoc): FunctionCallResponse | null {
    if (call.name !== fn.name) throw new AppError('idempotency_key_reused', `Function call ${fn.id} was already relayed for ${call.name}`);
    return call.status === 'done' && typeof call.content === 'string' ? answer(fn, call.content) : null;
  }

  function stored(session: VoiceSessionDoc, callId: string): Promise<VoiceCallDoc | null> {
    return VoiceCall.findOne({ sessionId: session._id, callId }).lean<VoiceCallDoc>();
  }

  /**
   * Runs the tool under the claim, renewing it meanwhile (for MAX_RUN_MS at most) so that no other relay
   * takes it over. Every write names the claim's token: a relay whose claim was taken over writes nothing.
   */
  async function runClaimed(session: VoiceSessionDoc, fn: RelayedFunction, scope: ToolScope, token: string): Promise<FunctionCallResponse> {
    const key = { sessionId: session._id, callId: fn.id, claimToken: token };
    const renewUntil = Date.now() + MAX_RUN_MS;
    const renewal = setInterval(() => {
      if (Date.now() > renewUntil) return clearInterval(renewal);
      VoiceCall.updateOne({ ...key, status: 'running' }, { $set: { claimedAt: deps.clock.now() } }).catch(() => undefined);
    }, CLAIM_RENEW_MS);
    renewal.unref();
    let run: ToolRun;
    try {
      run = await deps.executor.run({ id: fn.id, name: fn.name, arguments: fn.arguments }, { ...scope, origin: { ...scope.origin, key: `voice:${String(session._id)}` } });
    } catch (error) {
      // Not run (the executor answers every tool failure itself): free the claim for a retry.
      await VoiceCall.deleteOne({ ...key, status: 'running' });
      throw error;
    } finally {
      clearInterval(renewal);
    }
    await VoiceCall.updateOne(key, { $set: { status: 'done', ok: run.ok, errorCode: run.errorCode, content: run.result } });
    deps.onRun(session, fn, run);
    return answer(fn, run.result);
  }

  return {
    async run(session: VoiceSessionDoc, fn: RelayedFunction, scope: ToolScope): Promise<FunctionCallResponse> {
      // Twice at most: a claim freed while this relay waited on it is claimed again.
      for (let attempt = 0; ; attempt += 1) {
        const token = await claim(session, fn);
        if (token) return runClaimed(session, fn, scope, token);
        const done = await awaitDone(session, fn);
        if (done) return done;
        if (attempt === 1) throw new AppError('conflict', `Function call ${fn.id} could not be run; relay it again`, { headers: { 'Retry-After': '1' } });
      }
    },

    /**
     * The answer of a call the session already took, if any (a session that has ended still answers
     * those): null when it never ran; 409 with Retry-After while it is still running.
     */
    async answered(session: VoiceSessionDoc, fn: RelayedFunction): Promise<FunctionCallResponse | null> {
      const call = await stored(session, fn.id);
      if (!call) return null;
      const done = answerOf(fn, call);
      if (!done) throw stillRunning(fn);
      return done;
    },
  };
}
