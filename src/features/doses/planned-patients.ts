/**
 * Whether a patient has a medication plan — asked for every dose event, since without a plan
 * there is no occurrence to match and no stock to count, and a dispenser fleet sends thousands
 * of events a second. Kept in memory: a plan is never deleted (PUT replaces it), so a "yes"
 * stays true; a "no" is kept for NO_PLAN_TTL_MS and dropped as soon as a plan is created, here or
 * on another hub instance (peer message). Misses of one burst of events share one query.
 */
import { Types, type Model } from 'mongoose';
import type { SocketTransport } from '../../transports/socket/server.js';
import { burstLoader } from '../burst-loader.js';
import type { PlanDoc } from './models.js';

const NO_PLAN_TTL_MS = 60_000;
const PLAN_CREATED = 'peer:plan-created';

export function createPlannedPatients(Plan: Model<PlanDoc>, sockets: Pick<SocketTransport, 'toPeers' | 'onPeer'>, noPlanTtlMs = NO_PLAN_TTL_MS) {
  const planned = new Set<string>();
  /** Patients known to have no plan, until when (ms). */
  const unplanned = new Map<string, number>();
  let nextPruneAt = 0;

  const reads = burstLoader<string, boolean>(async (patientIds) => {
    const plans = await Plan.find({ patientId: { $in: patientIds.map((id) => new Types.ObjectId(id)) } }, { patientId: 1 }).lean<PlanDoc[]>();
    const found = new Set(plans.map((plan) => String(plan.patientId)));
    return patientIds.map((id) => found.has(id));
  });

  function markPlanned(patientId: string): void {
    planned.add(patientId);
    unplanned.delete(patientId);
  }

  function prune(now: number): void {
    if (now < nextPruneAt) return;
    nextPruneAt = now + noPlanTtlMs;
    for (const [id, until] of unplanned) if (until <= now) unplanned.delete(id);
  }

  sockets.onPeer(PLAN_CREATED, ({ patientId }) => {
    if (typeof patientId === 'string') markPlanned(patientId);
  });

  return {
    async has(patientId: string): Promise<boolean> {
      if (planned.has(patientId)) return true;
      const now = Date.now();
      prune(now);
      if ((unplanned.get(patientId) ?? 0) > now) return false;
      if (await reads.load(patientId)) planned.add(patientId);
      // A plan created while we read is missing from the answer, but not from `planned`.
      else if (!planned.has(patientId)) unplanned.set(patientId, now + noPlanTtlMs);
      return planned.has(patientId);
    },

    /** A plan was stored for the patient: every instance matches its dose events from now on. */
    created(patientId: string): void {
      markPlanned(patientId);
      sockets.toPeers(PLAN_CREATED, { patientId });
    },
  };
}

export type PlannedPatients = ReturnType<typeof createPlannedPatients>;
