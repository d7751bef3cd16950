/**
 * How a batch asks for documents of its patients (care-team links, escalation
 * policies). For a few patients, by `patientId: {$in}` — an index prefix on
 * MongoDB. For many (a sweep's thousands of missed doses), every document of
 * their organisations, kept here by patient: the embedded store answers a
 * `$in` on a scan by comparing each document with every listed value, so a
 * long list would cost documents × patients (1.9 s for 2,000 links × 1,800
 * patients); one scan of the organisations costs documents only.
 */
import { Types } from 'mongoose';

/** Above this many patients a batch reads its organisations' documents instead. */
export const LONG_PATIENT_LIST = 16;

export interface PatientScope {
  /** The filter on `organisationId` and, for a short list, `patientId`. */
  filter: Record<string, unknown>;
  /** Whether a document read with `filter` belongs to one of the patients (or to no patient, with `withOrganisationWide`). */
  keeps(patientId: unknown): boolean;
}

export function patientScope(organisationIds: Iterable<string>, patientIds: Iterable<string>, { withOrganisationWide = false } = {}): PatientScope {
  const organisations = [...new Set(organisationIds)].map((id) => new Types.ObjectId(id));
  const patients = new Set(patientIds);
  const keeps = (patientId: unknown): boolean => (patientId ? patients.has(String(patientId)) : withOrganisationWide);
  if (patients.size > LONG_PATIENT_LIST) return { filter: { organisationId: { $in: organisations } }, keeps };
  const listed = [...patients].map((id) => new Types.ObjectId(id));
  return { filter: { organisationId: { $in: organisations }, patientId: { $in: withOrganisationWide ? [null, ...listed] : listed } }, keeps };
}
