/**
 * Where the assistant's facts about a patient come from: the medication plan, upcoming doses and
 * adherence. The doses feature owns that data and implements this port (doses/facts.ts), which the
 * composition root hands to `registerConversations`; without one, `noRecordedFacts` answers honestly
 * that nothing is recorded, and the assistant says so instead of inventing a plan.
 */
import type { AdherencePeriod, AdherenceSummary, PlannedMedication, UpcomingDose } from '../../ports/language-model.js';

export interface FactsPatient {
  id: string;
  organisationId: string;
  timeZone: string;
}

export interface PatientFacts {
  /** The current plan, or null when none is recorded (an empty array means a plan with no medication). */
  plan(patient: FactsPatient): Promise<PlannedMedication[] | null>;
  /** Doses not yet taken, soonest first, at most `limit`. */
  upcomingDoses(patient: FactsPatient, now: Date, limit: number): Promise<UpcomingDose[]>;
  /** Counts over a period in the patient's zone, or null when there are no dose records. */
  adherence(patient: FactsPatient, period: AdherencePeriod, now: Date, medication?: string): Promise<AdherenceSummary | null>;
}

/** Used until the plans/doses features provide facts: no plan, no doses, no records. */
export const noRecordedFacts: PatientFacts = {
  plan: async () => null,
  upcomingDoses: async () => [],
  adherence: async () => null,
};
