/**
 * What the doses service's modules share: units, the horizon, the names they give the models'
 * documents, and the few small helpers each of them needs. No module of the service here.
 */
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import type { RaiseAlert } from '../alerts/contract.js';
import type { Actor } from '../identity/actor.js';
import type { PatientDoc } from '../identity/models.js';
import type { OccurrenceDoc } from './models.js';

/** Occurrences and the device schedule reach this far ahead. */
export const HORIZON_HOURS = 72;
export const HOUR = 3_600_000;
export const MINUTE = 60_000;

export type Occurrence = OccurrenceDoc;

/** The patient, by id (their zone above all); null when there is none any more. */
export type PatientOf = (patientId: Types.ObjectId) => Promise<PatientDoc | null>;

/** Runs a call through the audit log (identity's `audited`), as the action named. */
export type Track = <T>(actor: Actor, action: string, objectType: string, objectId: string | null, run: () => Promise<T>) => Promise<T>;

export const oid = (id: string | Types.ObjectId): Types.ObjectId => (typeof id === 'string' ? new Types.ObjectId(id) : id);

export function invalid(path: string, message: string): AppError {
  return new AppError('validation_failed', `${path.slice(1)} ${message}`, { details: [{ path, message }] });
}

/** What a dose's alerts (dose.late, dose.missed) carry of it: whose it is, and ids only in details. */
export function doseAlertFields(o: Occurrence): Pick<RaiseAlert, 'organisationId' | 'patientId' | 'details'> {
  return {
    organisationId: String(o.organisationId),
    patientId: String(o.patientId),
    details: { occurrenceId: String(o._id), slot: o.slot, dueAt: o.dueAt.toISOString(), medicationId: o.medicationId },
  };
}
