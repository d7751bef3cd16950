/**
 * A dose confirmed by what a person says rather than by its id: "I took my Metformin" in a chat or a
 * voice session (the assistant's `confirm_dose` tool). It finds the dose meant — the one of that
 * medication due now or most recently due, within the last day — and confirms it as the REST route
 * does (`confirm`: the same policy, audit, window checks and state change).
 *
 * Said twice, it answers that the dose is already recorded rather than confirming an older one: a
 * person repeating themself must not turn yesterday's missed dose into a taken one. For the same
 * reason a dose taken more than a day ago is not confirmed by name at all (400), however the time
 * is given.
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import { matchingMedications } from './facts.js';
import type { DoseModels, MedicationDoc, OccurrenceDoc, PlanDoc } from './models.js';
import { HOUR, invalid, MINUTE } from './shared.js';
import { toOccurrenceView } from './views.js';

type OccurrenceView = ReturnType<typeof toOccurrenceView>;

export interface NamedConfirmation {
  medication: string;
  occurrenceId?: string;
  takenAt?: string;
}

export interface NamedConfirmed {
  medication: { id: string; name: string };
  dose: OccurrenceView;
  /** True when the dose was already recorded taken: nothing changed. */
  alreadyRecorded: boolean;
}

/** How far back a dose may be confirmed by name: older ones are confirmed by id, in the app. */
const LOOKBACK_MS = 24 * HOUR;

interface Deps {
  Plan: DoseModels['Plan'];
  Occurrence: DoseModels['Occurrence'];
  policy: Identity['policy'];
  /** The REST route's confirmation, saying whether this call recorded the dose. */
  confirmDose: (actor: Actor, patientId: string, occurrenceId: string, input: { takenAt?: string }) => Promise<{ dose: OccurrenceView; recorded: boolean }>;
  clock: Clock;
}

export function createNamedConfirmation({ Plan, Occurrence, policy, confirmDose, clock }: Deps) {
  /** The plan's medication the words name: an exact name first, else the only one whose name contains them. */
  function medicationNamed(plan: PlanDoc | null, named: string): MedicationDoc {
    const medications = plan?.medications ?? [];
    const listed = medications.map((m) => m.name).join(', ') || 'none';
    const exact = medications.filter((m) => m.name.toLowerCase() === named.trim().toLowerCase());
    const ids = exact.length === 1 ? [exact[0]?.id] : matchingMedications(medications, named.trim());
    // 400 and 409, not 404: the patient was found (a 404 reads as a refusal in the audit log).
    if (ids.length === 0) throw invalid('/medication', `"${named}" is not in the plan. The plan lists: ${listed}.`);
    if (ids.length > 1) throw invalid('/medication', `"${named}" could be several medications (${medications.filter((m) => ids.includes(m.id)).map((m) => m.name).join(', ')}). Ask which one.`);
    return medications.find((m) => m.id === ids[0]) as MedicationDoc;
  }

  /** The dose of the medication due at `takenAt` or most recently before it, within the lookback. */
  async function doseMeant(patientId: Types.ObjectId, medicationId: string, takenAt: Date): Promise<OccurrenceDoc | null> {
    // A dose's window opens earlyMinutes before it is due (at most a few hours): read a little past takenAt, then keep the open ones.
    const candidates = await Occurrence.find({ patientId, medicationId, state: { $ne: 'cancelled' }, dueAt: { $gte: new Date(takenAt.getTime() - LOOKBACK_MS), $lte: new Date(takenAt.getTime() + 12 * HOUR) } })
      .sort({ dueAt: -1 })
      .lean<OccurrenceDoc[]>();
    return candidates.find((dose) => dose.dueAt.getTime() - dose.window.earlyMinutes * MINUTE <= takenAt.getTime()) ?? null;
  }

  return {
    async confirmNamed(actor: Actor, patientId: string, input: NamedConfirmation): Promise<NamedConfirmed> {
      const patient = await policy.assertPatient(actor.principal, patientId, 'dose.confirm');
      const now = clock.now();
      const takenAt = input.takenAt ? new Date(input.takenAt) : now;
      if (takenAt > now) throw invalid('/taken_at', 'is in the future');
      if (takenAt.getTime() < now.getTime() - LOOKBACK_MS) throw invalid('/taken_at', 'is more than 24 hours ago: confirm older doses in the app');
      const plan = await Plan.findOne({ patientId: patient._id, organisationId: patient.organisationId }).lean<PlanDoc>();
      const medication = medicationNamed(plan, input.medication);
      const dose = input.occurrenceId
        ? Types.ObjectId.isValid(input.occurrenceId) ? await Occurrence.findOne({ _id: new Types.ObjectId(input.occurrenceId), patientId: patient._id }).lean<OccurrenceDoc>() : null
        : await doseMeant(patient._id, medication.id, takenAt);
      if (!dose) throw new AppError('conflict', `No dose of ${medication.name} is due now or was due in the last 24 hours.`);
      if (dose.medicationId !== medication.id) throw invalid('/occurrence_id', `is not a dose of ${medication.name}`);
      // Named by id too: an older dose is confirmed in the app, where the person sees which one it is.
      if (dose.dueAt.getTime() < now.getTime() - LOOKBACK_MS) throw invalid('/occurrence_id', 'is a dose due more than 24 hours ago: confirm older doses in the app');
      const named = { id: medication.id, name: medication.name };
      if (dose.state === 'taken' || dose.state === 'late') return { medication: named, dose: toOccurrenceView(dose), alreadyRecorded: true };
      // Taken meanwhile (the device, the app, another session): recorded all the same, by someone else.
      const { dose: confirmed, recorded } = await confirmDose(actor, patientId, String(dose._id), { takenAt: takenAt.toISOString() });
      return { medication: named, dose: confirmed, alreadyRecorded: !recorded };
    },
  };
}
