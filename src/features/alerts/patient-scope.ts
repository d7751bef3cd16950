/**
 * How a batch asks for documents of its patients (care-team links, escalation
 * policies). For a few patients, by `patientId: {$in}` — an index prefix on
 * MongoDB. For many (a sweep's missed doses), every document of their
 * organisations, kept here by patient: the embedded store uses no index prefix
 * and answers a `$in` on a scan by comparing each document with every listed
 * value, so the cost grows with documents × patients. Measured on 10,000
 * care-team links (2 cores): 1 patient 8 ms, 16 patients 75 ms, 150 patients
 * 650–840 ms; the organisation's 10,000 links 180–300 ms whatever the batch
 * (most of it returning the documents). The two meet near 40 patients.
 */
import { Types } from 'mongoose';

/** Above this many patients a batch reads its organisations' documents instead. */
export const LONG_PATIENT_LIST = 40;

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
