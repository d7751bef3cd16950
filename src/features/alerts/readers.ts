/**
 * Who may read an alert, as a user told of it outside its tiers (whoever acknowledged an alert now
 * re-activated): the checks a tier recipient passes — an enabled account of the alert's organisation —
 * and the access `GET /alerts/{id}` asks for: the identity policy's access to the alert's patient
 * (a caregiver still on the care team, the patient themself, staff), or staff for an alert about no
 * patient. A user who may no longer see the patient hears nothing of them, not even initials.
 */
import { Types } from 'mongoose';
import type { IdentityModels } from '../identity/models.js';
import { STAFF_ROLES, type Policy } from '../identity/policy.js';
import type { UserPrincipal } from '../identity/principal.js';
import type { AlertDoc } from './models.js';

export type AlertSubject = Pick<AlertDoc, 'organisationId' | 'patientId'>;

export function createAlertReaders({ User }: Pick<IdentityModels, 'User'>, policy: Pick<Policy, 'patientAccess'>) {
  /** Of `userIds`, those who may read `alert` now, in the order given, without repeats. */
  async function among(alert: AlertSubject, userIds: string[]): Promise<string[]> {
    const wanted = [...new Set(userIds)].filter((id) => Types.ObjectId.isValid(id));
    if (!wanted.length) return [];
    const users = await User.find({ _id: { $in: wanted.map((id) => new Types.ObjectId(id)) } }, { organisationId: 1, role: 1, patientId: 1, disabled: 1 }).lean();
    const organisationId = String(alert.organisationId);
    const allowed = await Promise.all(
      users.map(async (user) => {
        if (user.disabled || String(user.organisationId) !== organisationId) return null;
        if (!alert.patientId) return STAFF_ROLES.has(user.role) ? String(user._id) : null;
        // The principal the user would sign in as (the session plays no part in patient access).
        const principal: UserPrincipal = { kind: 'user', userId: String(user._id), organisationId, role: user.role, patientId: user.patientId ? String(user.patientId) : null, sessionId: '' };
        const level = await policy.patientAccess(principal, { _id: alert.patientId, organisationId: alert.organisationId });
        return level === 'none' ? null : String(user._id);
      }),
    );
    const ok = new Set(allowed.filter((id): id is string => id !== null));
    return wanted.filter((id) => ok.has(id));
  }

  return { among };
}

export type AlertReaders = ReturnType<typeof createAlertReaders>;
