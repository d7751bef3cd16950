/**
 * What a summary says, counted from the records of the period's local days: doses by state (overall
 * and per medication, from the doses feature's adherence), alerts raised by type, symptoms reported
 * by name (the worst severity), and requests for help. Alerts and reports are read by the UTC
 * instants of the first local midnight and the one after the last day, so DST days count right.
 */
import type { Types } from 'mongoose';
import type { AdherenceReport } from '../doses/adherence.js';
import { addDays, localToUtc } from '../doses/zone.js';
import type { ReportDoc, Severity } from '../reports/models.js';
import type { SummaryFacts } from './models.js';

export interface SummaryPatient {
  _id: Types.ObjectId;
  organisationId: Types.ObjectId;
  name: string;
  timezone: string;
}

/** Reads from the features that own the records. */
export interface FactSources {
  adherenceOf(patient: Pick<SummaryPatient, '_id' | 'timezone'>, from: string, to: string): Promise<AdherenceReport>;
  /** The types of the patient's alerts raised in [start, end). */
  alertsRaised(patient: Pick<SummaryPatient, '_id' | 'organisationId'>, start: Date, end: Date): Promise<Array<{ type: string }>>;
  /** The patient's reports made in [start, end). */
  reportsMade(patientId: Types.ObjectId, start: Date, end: Date): Promise<Array<Pick<ReportDoc, 'kind' | 'symptom'>>>;
}

const SEVERITY_ORDER: Severity[] = ['mild', 'moderate', 'severe'];

export async function gatherFacts(sources: FactSources, patient: SummaryPatient, from: string, to: string): Promise<SummaryFacts> {
  const start = localToUtc(from, '00:00', patient.timezone);
  const end = localToUtc(addDays(to, 1), '00:00', patient.timezone);
  const [adherence, alerts, reports] = await Promise.all([
    sources.adherenceOf(patient, from, to),
    sources.alertsRaised(patient, start, end),
    sources.reportsMade(patient._id, start, end),
  ]);
  const alertCounts = new Map<string, number>();
  for (const alert of alerts) alertCounts.set(alert.type, (alertCounts.get(alert.type) ?? 0) + 1);
  const symptoms = new Map<string, { name: string; severity: Severity; count: number }>();
  for (const report of reports) {
    if (report.kind !== 'symptom' || !report.symptom) continue;
    const name = report.symptom.name.toLowerCase();
    const seen = symptoms.get(name) ?? { name, severity: report.symptom.severity, count: 0 };
    seen.count += 1;
    if (SEVERITY_ORDER.indexOf(report.symptom.severity) > SEVERITY_ORDER.indexOf(seen.severity)) seen.severity = report.symptom.severity;
    symptoms.set(name, seen);
  }
  const counts = ({ scheduled, takenOnTime, late, missed, skipped, unknown, pending, adherencePercent }: AdherenceReport['total']) => ({ scheduled, takenOnTime, late, missed, skipped, unknown, pending, adherencePercent });
  return {
    doses: counts(adherence.total),
    medications: adherence.medications.map((m) => ({ medicationId: m.medicationId, name: m.name, counts: counts(m) })),
    alerts: [...alertCounts].map(([type, count]) => ({ type, count })).sort((a, b) => b.count - a.count || a.type.localeCompare(b.type)),
    symptoms: [...symptoms.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
    helpRequests: reports.filter((report) => report.kind === 'help').length,
  };
}
