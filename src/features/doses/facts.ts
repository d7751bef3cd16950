/**
 * The assistant's facts about a patient (conversations' PatientFacts), from the doses feature's own
 * records: the plan, the doses still to take, and adherence over a period in the patient's zone.
 * Every read is by the patient and their organisation; access was checked by the conversation.
 */
import { Types } from 'mongoose';
import type { FactsPatient, PatientFacts } from '../conversations/facts.js';
import type { AdherencePeriod, AdherenceSummary, PlannedMedication, UpcomingDose } from '../../ports/language-model.js';
import type { DoseModels, DoseState, MedicationDoc, OccurrenceDoc, PlanDoc } from './models.js';
import { addDays, localDate, weekday } from './zone.js';
import { burstLoader } from '../burst-loader.js';

/** States a dose ends in; a dose still scheduled or due has no outcome yet and is left out of adherence. */
const SETTLED: DoseState[] = ['taken', 'late', 'missed', 'skipped', 'unknown'];

const scope = (patient: FactsPatient) => ({ patientId: new Types.ObjectId(patient.id), organisationId: new Types.ObjectId(patient.organisationId) });

export function createDoseFacts({ Plan, Occurrence }: Pick<DoseModels, 'Plan' | 'Occurrence'>): PatientFacts {
  // A chat message asks for the plan and the doses to come at once: both read the plan in one query.
  const plans = burstLoader<FactsPatient, PlanDoc | null>(async (patients) => {
    const found = await Plan.find({ $or: patients.map(scope) }, { patientId: 1, organisationId: 1, medications: 1, schedule: 1 }).lean<PlanDoc[]>();
    const byScope = new Map(found.map((plan) => [`${String(plan.organisationId)} ${String(plan.patientId)}`, plan]));
    return patients.map((patient) => byScope.get(`${patient.organisationId} ${patient.id}`) ?? null);
  });
  const planOf = (patient: FactsPatient): Promise<PlanDoc | null> => plans.load(patient);

  return {
    async plan(patient) {
      const plan = await planOf(patient);
      if (!plan) return null;
      return plan.medications.map((medication): PlannedMedication => {
        const times = [...new Set(plan.schedule.filter((item) => item.medicationId === medication.id).flatMap((item) => item.times))].sort();
        return { id: medication.id, name: medication.name, times, ...withText('strength', medication.strength), ...withText('instructions', medication.instructions) };
      });
    },

    async upcomingDoses(patient, now, limit) {
      const [plan, doses] = await Promise.all([
        planOf(patient),
        // Due ones first (their dueAt has passed), then those to come.
        Occurrence.find({ ...scope(patient), state: { $in: ['scheduled', 'due'] }, missedAt: { $gt: now } }, { medicationId: 1, dueAt: 1 })
          .sort({ dueAt: 1 })
          .limit(limit)
          .lean<OccurrenceDoc[]>(),
      ]);
      const medications = new Map((plan?.medications ?? []).map((m) => [m.id, m]));
      return doses.map((dose): UpcomingDose => {
        const medication = medications.get(dose.medicationId);
        return { occurrenceId: String(dose._id), medicationId: dose.medicationId, medicationName: medication?.name ?? dose.medicationId, dueAt: dose.dueAt.toISOString(), ...withText('strength', medication?.strength) };
      });
    },

    async adherence(patient, period, now, medication) {
      if (!(await Occurrence.exists(scope(patient)))) return null;
      const [from, to] = periodDates(period, localDate(now, patient.timeZone));
      const filter: Record<string, unknown> = { ...scope(patient), localDate: { $gte: from, $lte: to }, state: { $in: SETTLED } };
      if (medication !== undefined) filter.medicationId = { $in: matchingMedications((await planOf(patient))?.medications ?? [], medication) };
      const doses = await Occurrence.find(filter, { state: 1 }).lean<Array<Pick<OccurrenceDoc, 'state'>>>();
      const counted = (states: DoseState[]) => doses.filter((dose) => states.includes(dose.state)).length;
      const summary: AdherenceSummary = { period, scheduled: doses.length, taken: counted(['taken', 'late']), missed: counted(['missed']), unknown: counted(['unknown']) };
      return summary;
    },
  };
}

/** `{key: value}` when there is text, else nothing (the port's optional fields are left out, not null). */
function withText<K extends string>(key: K, value: string | null | undefined): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Record<K, string>) : {};
}

/** The local dates a period covers, ending today (weeks start on Monday). */
export function periodDates(period: AdherencePeriod, today: string): [string, string] {
  switch (period) {
    case 'today':
      return [today, today];
    case 'yesterday':
      return [addDays(today, -1), addDays(today, -1)];
    case 'this_week':
      return [addDays(today, 1 - weekday(today)), today];
    case 'last_7_days':
      return [addDays(today, -6), today];
    case 'last_30_days':
      return [addDays(today, -29), today];
  }
}

/** A medication named by the model: its id, or a part of its name (any case). */
export function matchingMedications(medications: MedicationDoc[], named: string): string[] {
  const wanted = named.toLowerCase();
  return medications.filter((m) => m.id === named || m.name.toLowerCase().includes(wanted)).map((m) => m.id);
}
