/**
 * Adherence over a range of the patient's local days: every dose counted by its state, per day,
 * per medication and overall, with the share taken (ADHERENCE_FORMULA).
 */
import type { Counts as CountsView } from '../../generated/http/adherence-view.js';
import type { Clock } from '../../ports/clock.js';
import type { Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import type { DoseModels, DoseState, PlanDoc } from './models.js';
import { invalid, type Occurrence, type Track } from './shared.js';
import { addDays, daysBetween, localDate, localDates } from './zone.js';

/** The longest adherence report, in days: a year, leap day included. */
const MAX_ADHERENCE_DAYS = 366;

export const ADHERENCE_FORMULA = '(takenOnTime + late) / (scheduled - unknown - pending), null when the denominator is 0';

/** An adherence view's counts (schemas/http/adherence-view.json), before the percentage. */
type Counts = Omit<CountsView, 'adherencePercent'>;
const emptyCounts = (): Counts => ({ scheduled: 0, takenOnTime: 0, late: 0, missed: 0, skipped: 0, unknown: 0, pending: 0 });

function count(counts: Counts, state: DoseState): void {
  counts.scheduled += 1;
  if (state === 'taken') counts.takenOnTime += 1;
  else if (state === 'late') counts.late += 1;
  else if (state === 'missed') counts.missed += 1;
  else if (state === 'skipped') counts.skipped += 1;
  else if (state === 'unknown') counts.unknown += 1;
  else counts.pending += 1;
}

function finish(counts: Counts) {
  const denominator = counts.scheduled - counts.unknown - counts.pending;
  return { ...counts, adherencePercent: denominator > 0 ? Math.round(((counts.takenOnTime + counts.late) / denominator) * 1000) / 10 : null };
}

interface Deps {
  Plan: DoseModels['Plan'];
  Occurrence: DoseModels['Occurrence'];
  policy: Identity['policy'];
  track: Track;
  clock: Clock;
}

export type AdherenceReport = Awaited<ReturnType<ReturnType<typeof createAdherence>['adherenceOf']>>;

export function createAdherence({ Plan, Occurrence, policy, track, clock }: Deps) {
  /** Adherence over local days `from`–`to` (inclusive) of a patient whose access was checked, or who is reported on (summaries). */
  async function adherenceOf(patient: Pick<PatientDoc, '_id' | 'timezone'>, from: string, to: string) {
    const occurrences = (await Occurrence.find({ patientId: patient._id, localDate: { $gte: from, $lte: to } }, { localDate: 1, medicationId: 1, state: 1 }).lean<Occurrence[]>()).filter((o) => o.state !== 'cancelled');
    const plan = await Plan.findOne({ patientId: patient._id }, { medications: 1 }).lean<PlanDoc>();
    const names = new Map((plan?.medications ?? []).map((m) => [m.id, m.name]));
    const days = new Map<string, { total: Counts; medications: Map<string, Counts> }>();
    for (const date of localDates(from, to)) days.set(date, { total: emptyCounts(), medications: new Map() });
    const overall = emptyCounts();
    const byMedication = new Map<string, Counts>();
    for (const o of occurrences) {
      const day = days.get(o.localDate);
      if (!day) continue;
      const perMedication = day.medications.get(o.medicationId) ?? emptyCounts();
      day.medications.set(o.medicationId, perMedication);
      const overallMedication = byMedication.get(o.medicationId) ?? emptyCounts();
      byMedication.set(o.medicationId, overallMedication);
      for (const counts of [day.total, perMedication, overall, overallMedication]) count(counts, o.state);
    }
    return {
      patientId: String(patient._id),
      timezone: patient.timezone,
      from,
      to,
      formula: ADHERENCE_FORMULA,
      total: finish(overall),
      /** Over the whole range, per medication (summaries). */
      medications: [...byMedication].map(([medicationId, counts]) => ({ medicationId, name: names.get(medicationId) ?? null, ...finish(counts) })),
      days: [...days].map(([date, day]) => ({
        date,
        ...finish(day.total),
        medications: [...day.medications].map(([medicationId, counts]) => ({ medicationId, name: names.get(medicationId) ?? null, ...finish(counts) })),
      })),
    };
  }

  return {
    adherenceOf,

    async adherence(actor: Actor, patientId: string, query: { from?: string; to?: string }) {
      return track(actor, 'adherence.read', 'patient', patientId, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'dose.read');
        const today = localDate(clock.now(), patient.timezone);
        const to = query.to ?? today;
        const from = query.from ?? addDays(to, -6);
        if (to < from) throw invalid('/to', 'is before from');
        // Counted, not walked: a range of millennia must not hold the event loop while its days are listed.
        if (daysBetween(from, to) + 1 > MAX_ADHERENCE_DAYS) throw invalid('/from', `the range is longer than ${MAX_ADHERENCE_DAYS} days`);
        const { medications: _overall, ...report } = await adherenceOf(patient, from, to);
        return report;
      });
    },
  };
}
