/** What leaves the hub about identity objects: explicit fields, never hashes. */
import type { CareTeamDoc, PatientDoc, UserDoc } from './models.js';

const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);

export function toUserView(user: UserDoc) {
  return {
    id: String(user._id),
    organisationId: String(user.organisationId),
    email: user.email,
    name: user.name,
    role: user.role,
    patientId: user.patientId ? String(user.patientId) : null,
    phone: user.phone ?? null,
    disabled: user.disabled,
    createdAt: iso((user as { createdAt?: unknown }).createdAt),
  };
}

export function toPatientView(patient: PatientDoc) {
  return {
    id: String(patient._id),
    organisationId: String(patient.organisationId),
    name: patient.name,
    timezone: patient.timezone,
    dateOfBirth: patient.dateOfBirth ?? null,
    contacts: (patient.contacts ?? []).map((c) => ({ name: c.name, relation: c.relation ?? null, phone: c.phone ?? null, email: c.email ?? null })),
    notes: patient.notes ?? null,
    createdAt: iso((patient as { createdAt?: unknown }).createdAt),
    updatedAt: iso((patient as { updatedAt?: unknown }).updatedAt),
  };
}

export function toCareTeamView(link: CareTeamDoc, user?: Pick<UserDoc, 'name' | 'email' | 'role'>) {
  return {
    userId: String(link.userId),
    patientId: String(link.patientId),
    relation: link.relation,
    priority: link.priority,
    ...(user ? { name: user.name, email: user.email, role: user.role } : {}),
  };
}
