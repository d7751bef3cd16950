/**
 * Runs each relayed function call once. A call is claimed by inserting its record (unique on the
 * session and Deepgram's call id) before it runs; a relay of the same id finds the claim and answers
 * what the first run answered, waiting for it if it is still running. A claim left `running` by a hub
 * that stopped mid-call is taken over after CLAIM_STALE_MS: running the tool again is safe, since
 * confirm_dose answers "already recorded" and a help request joins the alert already open.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { ToolExecutor, ToolRun, ToolScope } from '../intents/index.js';
import type { VoiceCallDoc, VoiceModels, VoiceSessionDoc } from './models.js';

export interface RelayedFunction {
  id: string;
  name: string;
  arguments: string;
}

/** Deepgram's FunctionCallResponse, for the client to send to the agent verbatim. */
export interface FunctionCallResponse {
  type: 'FunctionCallResponse';
  id: string;
  name: string;
  content: string;
}

export const CLAIM_STALE_MS = 30_000;
const WAIT_FOR_RUNNING_MS = 10_000;
const POLL_MS = 50;
const MAX_STORED = 4000;

export function createCallRunner(deps: { models: VoiceModels; executor: ToolExecutor; clock: Clock; onRun: (session: VoiceSessionDoc, fn: RelayedFunction, run: ToolRun) => void }) {
  const { VoiceCall } = deps.models;

  const answer = (fn: RelayedFunction, content: string): FunctionCallResponse => ({ type: 'FunctionCallResponse', id: fn.id, name: fn.name, content });

  /** True when this relay took the call (first, or over a stale claim). */
  async function claim(session: VoiceSessionDoc, fn: RelayedFunction): Promise<boolean> {
    const now = deps.clock.now();
    try {
      await VoiceCall.create({ sessionId: session._id, callId: fn.id, name: fn.name, arguments: fn.arguments.slice(0, MAX_STORED), status: 'running', claimedAt: now });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code !== 11000) throw error;
    }
    const taken = await VoiceCall.findOneAndUpdate(
      { sessionId: session._id, callId: fn.id, name: fn.name, status: 'running', claimedAt: { $lt: new Date(now.getTime() - CLAIM_STALE_MS) } },
      { $set: { claimedAt: now } },
    ).lean();
    return taken !== null;
  }

  /** The answer of a call another relay claimed, once it is done. */
  async function awaitDone(session: VoiceSessionDoc, fn: RelayedFunction): Promise<FunctionCallResponse> {
    const deadline = Date.now() + WAIT_FOR_RUNNING_MS;
    for (;;) {
      const call = await VoiceCall.findOne({ sessionId: session._id, callId: fn.id }).lean<VoiceCallDoc>();
      if (call && call.name !== fn.name) throw new AppError('idempotency_key_reused', `Function call ${fn.id} was already relayed for ${call.name}`);
      if (call?.status === 'done' && call.content !== null && call.content !== undefined) return answer(fn, call.content);
      if (Date.now() > deadline) throw new AppError('conflict', `Function call ${fn.id} is still running; relay it again shortly`, { headers: { 'Retry-After': '1' } });
      await sleep(POLL_MS);
    }
  }

  return {
    async run(session: VoiceSessionDoc, fn: RelayedFunction, scope: ToolScope): Promise<FunctionCallResponse> {
      if (!(await claim(session, fn))) return awaitDone(session, fn);
      let run: ToolRun;
      try {
        run = await deps.executor.run({ id: fn.id, name: fn.name, arguments: fn.arguments }, scope);
      } catch (error) {
        // Not run (the executor answers every tool failure itself): free the claim for a retry.
        await VoiceCall.deleteOne({ sessionId: session._id, callId: fn.id, status: 'running' });
        throw error;
      }
      await VoiceCall.updateOne({ sessionId: session._id, callId: fn.id }, { $set: { status: 'done', ok: run.ok, errorCode: run.errorCode, content: run.result } });
      deps.onRun(session, fn, run);
      return answer(fn, run.result);
    },
  };
}
