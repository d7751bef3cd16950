/**
 * A patient's medication plan through the API: created once, read, and replaced as a whole (with
 * the revision the client read as its precondition); each write settles its refill.low alerts and
 * rebuilds the doses.
 */
import type { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { DoseModels, PlanDoc } from './models.js';
import { normalise, type PlanInput } from './plan-input.js';
import type { PlannedPatients } from './planned-patients.js';
import type { Rebuild } from './rebuild.js';
import type { Track } from './shared.js';
import type { Stock } from './stock.js';
import { etagOf, revisionOf, toPlanView } from './views.js';
import { isValidZone } from './zone.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

/** A PUT whose guarded write found the plan changed since its read reads it again, this many times at most. */
const MAX_PUT_ATTEMPTS = 5;

/** A PUT made from an older read of the plan: 409, with the current revision (and ETag) to read again from. */
function stalePlan(current: number): AppError {
  return new AppError('conflict', `The plan changed since it was read: it is at revision ${current} now; read it again and apply the change to it`, {
    details: [{ path: '/revision', message: `is ${current} now` }],
    headers: { ETag: `"${current}"` },
  });
}

interface Deps {
  Plan: DoseModels['Plan'];
  policy: Identity['policy'];
  track: Track;
  plannedPatients: PlannedPatients;
  refillsCleared: Stock['refillsCleared'];
  refillsRaised: Stock['refillsRaised'];
  replanPatient: Rebuild['replanPatient'];
  clock: Clock;
}

export function createPlans({ Plan, policy, track, plannedPatients, refillsCleared, refillsRaised, replanPatient, clock }: Deps) {
  async function loadPlan(patientId: Types.ObjectId): Promise<PlanDoc> {
    const plan = await Plan.findOne({ patientId }).lean<PlanDoc>();
    if (!plan) throw new AppError('not_found', 'This patient has no medication plan');
    return plan;
  }

  return {
    async createPlan(actor: Actor, patientId: string, input: PlanInput) {
      return track(actor, 'plan.create', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.write');
        const exists = () => new AppError('conflict', 'This patient already has a medication plan; replace it with PUT');
        if (await Plan.exists({ patientId: patient._id })) throw exists();
        if (!isValidZone(patient.timezone)) throw new AppError('conflict', 'The patient has no valid time zone');
        // The unique patientId decides between two creations at once: the second is a 409 like any other.
        const created = await Plan.create({ organisationId: patient.organisationId, patientId: patient._id, timezone: patient.timezone, ...normalise(input, { now: clock.now(), zone: patient.timezone }), updatedBy: actor.principal.userId }).catch((error: unknown) => {
          throw isDuplicateKey(error) ? exists() : error;
        });
        const plan = created.toObject() as PlanDoc;
        plannedPatients.created(String(patient._id));
        await refillsRaised(null, plan);
        await replanPatient(patient._id);
        return toPlanView(plan);
      });
    },

    async getPlan(actor: Actor, patientId: string) {
      return track(actor, 'plan.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.read');
        return toPlanView(await loadPlan(patient._id));
      });
    },

    /**
     * Replaces the plan. `input.revision` and `ifMatch` (the If-Match header's entity tags, or '*')
     * are the client's preconditions: the plan's revision it read. When the plan is at another one
     * now (a PUT, or a dispense taking stock, since), nothing is written: 409 with the current
     * revision. The write itself is guarded by the revision this call read, so a change between its
     * read and its write is never overwritten either: it reads again (and checks the preconditions
     * again).
     */
    async replacePlan(actor: Actor, patientId: string, input: PlanInput, ifMatch?: '*' | string[]) {
      return track(actor, 'plan.update', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'plan.write');
        for (let attempt = 1; ; attempt += 1) {
          const previous = await loadPlan(patient._id);
          const current = revisionOf(previous);
          if ((input.revision !== undefined && input.revision !== current) || (ifMatch && ifMatch !== '*' && !ifMatch.includes(etagOf(previous)))) throw stalePlan(current);
          const plan = await Plan.findOneAndUpdate(
            // A plan written before revisions existed has none: null matches it.
            { _id: previous._id, revision: previous.revision ?? null },
            // generatedUntil is left as it is: the rebuild sets it, and a generation from `now` before that would bring back doses the rebuild leaves out (replan.ts).
            { $set: { ...normalise(input, { now: clock.now(), zone: previous.timezone }, previous), updatedBy: actor.principal.userId, revision: current + 1 }, $inc: { version: 1 } },
            { returnDocument: 'after' },
          ).lean<PlanDoc>();
          if (!plan) {
            if (attempt < MAX_PUT_ATTEMPTS) continue;
            throw new AppError('conflict', 'The plan kept changing while it was being replaced; read it again and retry', { headers: { 'Retry-After': '1' } });
          }
          await refillsCleared(previous, plan);
          await refillsRaised(previous, plan);
          await replanPatient(patient._id);
          return toPlanView(plan);
        }
      });
    },
  };
}
