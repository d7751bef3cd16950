/**
 * The one place that answers "may this principal do X to Y". Every route and
 * every socket room join asks it. The rules:
 *
 *  - admin      everything in their organisation
 *  - clinician  every patient of their organisation (manage), no user admin
 *  - caregiver  only patients on their care team (view and care: ack alerts, chat, confirm doses)
 *  - patient    only themself (view and care)
 *
 * What a caller may not see does not exist for them: access to a patient in
 * another organisation, or not on one's care team, is 404, never 403, so that
 * ids cannot be probed. 403 is for a visible patient and an action above one's
 * level (a caregiver editing a plan).
 */
import { Types, type QueryFilter } from 'mongoose';
import { AppError } from '../../errors.js';
import type { IdentityModels, PatientDoc } from './models.js';
import type { UserPrincipal } from './principal.js';

/** Ordered: each level includes the ones before it. */
/** Roles that see and manage their whole organisation: every patient, device and alert in it. */
export const STAFF_ROLES: ReadonlySet<string> = new Set(['admin', 'clinician']);

export const ACCESS_LEVELS = ['none', 'view', 'care', 'manage'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

/** Patient-scoped actions and the level each needs. */
export const PATIENT_ACTIONS = {
  'patient.read': 'view',
  'patient.update': 'manage',
  'careTeam.read': 'view',
  'careTeam.manage': 'manage',
  'device.read': 'view',
  'device.manage': 'manage',
  'plan.read': 'view',
  'plan.write': 'manage',
  'dose.read': 'view',
  'dose.confirm': 'care',
  'alert.read': 'view',
  'alert.act': 'care',
  'conversation.read': 'view',
  'conversation.write': 'care',
  'summary.read': 'view',
  'summary.write': 'care',
  'report.read': 'view',
  'report.write': 'care',
} as const satisfies Record<string, AccessLevel>;
export type PatientAction = keyof typeof PATIENT_ACTIONS;

/** Organisation-wide actions and the roles allowed them. */
export const ORGANISATION_ACTIONS = {
  'user.manage': ['admin'],
  'audit.read': ['admin'],
  'patient.create': ['admin', 'clinician'],
  'device.provision': ['admin', 'clinician'],
} as const;
export type OrganisationAction = keyof typeof ORGANISATION_ACTIONS;

/** Who asks about a patient: a signed-in principal, or a user record (whom to notify). */
export interface PatientAccessor {
  role: string;
  organisationId: string;
  patientId: string | null;
}

/**
 * The rules above for one accessor and patient, given whether the accessor is on the patient's
 * care team (only asked of caregivers): for callers that look care-team links up in bulk.
 */
export function accessLevelOf(accessor: PatientAccessor, patient: Pick<PatientDoc, '_id' | 'organisationId'>, onCareTeam: () => boolean): AccessLevel {
  if (String(patient.organisationId) !== accessor.organisationId) return 'none';
  switch (accessor.role) {
    case 'admin':
    case 'clinician':
      return 'manage';
    case 'patient':
      return accessor.patientId === String(patient._id) ? 'care' : 'none';
    case 'caregiver':
      return onCareTeam() ? 'care' : 'none';
    default:
      return 'none';
  }
}

const atLeast = (level: AccessLevel, needed: AccessLevel): boolean => ACCESS_LEVELS.indexOf(level) >= ACCESS_LEVELS.indexOf(needed);

export interface Policy {
  may(principal: UserPrincipal, action: OrganisationAction): boolean;
  assertMay(principal: UserPrincipal, action: OrganisationAction): void;
  /** The principal's level on a patient. */
  patientAccess(principal: UserPrincipal, patient: Pick<PatientDoc, '_id' | 'organisationId'>): Promise<AccessLevel>;
  /** Loads a patient the principal may act on, or throws 404 (invisible) / 403 (visible, level too low). */
  assertPatient(principal: UserPrincipal, patientId: string, action: PatientAction): Promise<PatientDoc>;
  /** The filter that limits a patient query to what the principal may see. */
  visiblePatients(principal: UserPrincipal): Promise<QueryFilter<PatientDoc>>;
  /** Ids of the patients the principal may see (for socket rooms and scoped lists). */
  visiblePatientIds(principal: UserPrincipal): Promise<string[]>;
}

export function createPolicy(models: IdentityModels): Policy {
  const { Patient, CareTeam } = models;

  async function patientAccess(principal: UserPrincipal, patient: Pick<PatientDoc, '_id' | 'organisationId'>): Promise<AccessLevel> {
    const onCareTeam = principal.role === 'caregiver' && String(patient.organisationId) === principal.organisationId
      ? Boolean(await CareTeam.exists({ patientId: patient._id, userId: new Types.ObjectId(principal.userId) }))
      : false;
    return accessLevelOf(principal, patient, () => onCareTeam);
  }

  async function careTeamPatientIds(userId: string): Promise<Types.ObjectId[]> {
    const links = await CareTeam.find({ userId: new Types.ObjectId(userId) }, { patientId: 1 }).lean();
    return links.map((link) => link.patientId);
  }

  async function visiblePatients(principal: UserPrincipal): Promise<QueryFilter<PatientDoc>> {
    const organisationId = new Types.ObjectId(principal.organisationId);
    switch (principal.role) {
      case 'admin':
      case 'clinician':
        return { organisationId };
      case 'patient':
        return principal.patientId ? { organisationId, _id: new Types.ObjectId(principal.patientId) } : { _id: { $in: [] } };
      case 'caregiver':
        return { organisationId, _id: { $in: await careTeamPatientIds(principal.userId) } };
      default:
        return { _id: { $in: [] } };
    }
  }

  return {
    may: (principal, action) => (ORGANISATION_ACTIONS[action] as readonly string[]).includes(principal.role),
    assertMay(principal, action) {
      if (!this.may(principal, action)) throw new AppError('forbidden', `Your role may not do ${action}`);
    },
    patientAccess,
    async assertPatient(principal, patientId, action) {
      const patient = Types.ObjectId.isValid(patientId) ? await Patient.findById(patientId).lean<PatientDoc>() : null;
      const level = patient ? await patientAccess(principal, patient) : 'none';
      if (!patient || level === 'none') throw new AppError('not_found', 'Patient not found');
      if (!atLeast(level, PATIENT_ACTIONS[action])) throw new AppError('forbidden', `Your access to this patient does not allow ${action}`);
      return patient;
    },
    visiblePatients,
    async visiblePatientIds(principal) {
      const patients = await Patient.find(await visiblePatients(principal), { _id: 1 }).lean();
      return patients.map((patient) => String(patient._id));
    },
  };
}
