/** A patient's doses through the API: listed by time, and confirmed taken by a person. */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { DoseModels, DoseState } from './models.js';
import { HOUR, invalid, MINUTE, type Occurrence, type Track } from './shared.js';
import type { Transitions } from './transitions.js';
import { toOccurrenceView } from './views.js';

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  policy: Identity['policy'];
  track: Track;
  recordTaken: Transitions['recordTaken'];
  clock: Clock;
}

export function createDosesApi({ Occurrence, policy, track, recordTaken, clock }: Deps) {
  const api = {
    async listDoses(actor: Actor, patientId: string, query: { from?: string; to?: string; state?: DoseState; limit?: number }) {
      return track(actor, 'dose.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'dose.read');
        const now = clock.now();
        const from = query.from ? new Date(query.from) : new Date(now.getTime() - 24 * HOUR);
        const to = query.to ? new Date(query.to) : new Date(now.getTime() + 24 * HOUR);
        if (to < from) throw invalid('/to', 'is before from');
        // Cancelled doses (retired by a plan change) only when asked for by state.
        const filter: Record<string, unknown> = { patientId: patient._id, dueAt: { $gte: from, $lt: to }, state: query.state ?? { $ne: 'cancelled' } };
        const items = await Occurrence.find(filter).sort({ dueAt: 1 }).limit(query.limit ?? 500).lean<Occurrence[]>();
        return { from: from.toISOString(), to: to.toISOString(), items: items.map(toOccurrenceView) };
      });
    },

    async confirm(actor: Actor, patientId: string, occurrenceId: string, input: { takenAt?: string }) {
      return (await confirmDose(actor, patientId, occurrenceId, input)).dose;
    },

    confirmDose,
  };
  return api;

  /** The confirmation, and whether this call recorded it (false: the dose was already taken, or taken meanwhile). */
  async function confirmDose(actor: Actor, patientId: string, occurrenceId: string, input: { takenAt?: string }) {
    return track(actor, 'dose.confirm', 'dose', occurrenceId, async () => {
      const patient = await policy.assertPatient(actor.principal, patientId, 'dose.confirm');
      const occurrence = Types.ObjectId.isValid(occurrenceId) ? await Occurrence.findOne({ _id: new Types.ObjectId(occurrenceId), patientId: patient._id }).lean<Occurrence>() : null;
      if (!occurrence) throw new AppError('not_found', 'Dose not found');
      const now = clock.now();
      const takenAt = input.takenAt ? new Date(input.takenAt) : now;
      if (takenAt > now) throw invalid('/takenAt', 'is in the future');
      if (takenAt.getTime() < occurrence.dueAt.getTime() - occurrence.window.earlyMinutes * MINUTE) throw invalid('/takenAt', 'is before the dose window opens');
      if (['taken', 'late'].includes(occurrence.state)) return { dose: toOccurrenceView(occurrence), recorded: false };
      if (occurrence.state === 'skipped') throw new AppError('conflict', 'This dose was skipped');
      if (occurrence.state === 'cancelled') throw new AppError('conflict', 'This dose was cancelled by a plan change');
      const updated = await recordTaken(occurrence, takenAt, { source: 'confirmation', confirmedBy: actor.principal.userId });
      if (updated) return { dose: toOccurrenceView(updated.after), recorded: true };
      // Changed meanwhile: taken by someone else (the device, another person) answers as a dose already taken does.
      const current = await Occurrence.findOne({ _id: occurrence._id }).lean<Occurrence>();
      if (current && ['taken', 'late'].includes(current.state)) return { dose: toOccurrenceView(current), recorded: false };
      throw new AppError('conflict', 'The dose changed meanwhile; read it again');
    });
  }
}
