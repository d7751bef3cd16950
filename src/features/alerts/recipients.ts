/**
 * Who a tier names: care-team members by priority, every enabled user of a
 * role in the alert's organisation, or named users. `forMany` answers for
 * every (alert, tier) of a batch with at most three queries, however many
 * alerts there are: the care-team links of all the patients (see
 * patient-scope.ts), the users of the roles named, then the users themselves — and, when a role
 * or a name reaches caregivers, their care-team links: only those who may read about the alert's
 * patient are told.
 */
import { Types } from 'mongoose';
import type { IdentityModels, Role } from '../identity/models.js';
import { STAFF_ROLES, accessLevelOf } from '../identity/policy.js';
import type { AlertDoc } from './models.js';
import { patientScope } from './patient-scope.js';

export interface RecipientUser {
  _id: Types.ObjectId;
  phone?: string | null;
}

/** What recipients depend on: the alert's organisation, patient and the policy it carries. */
export type RecipientSubject = Pick<AlertDoc, 'organisationId' | 'patientId' | 'policy'>;
export interface TierRequest {
  alert: RecipientSubject;
  tiers: number[];
}
export type TierUsers = (alert: RecipientSubject, tier: number) => RecipientUser[];

const recipientsOf = (alert: RecipientSubject, tier: number) => alert.policy.tiers[tier]?.recipients ?? [];
const oids = (ids: Iterable<string>): Types.ObjectId[] => [...ids].map((id) => new Types.ObjectId(id));

function groupIds<T>(docs: T[], key: (doc: T) => string, id: (doc: T) => string): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const doc of docs) {
    const list = groups.get(key(doc));
    if (list) list.push(id(doc));
    else groups.set(key(doc), [id(doc)]);
  }
  return groups;
}

export function createRecipientLookup({ User, CareTeam }: Pick<IdentityModels, 'User' | 'CareTeam'>) {
  /** The care-team links and role members the requests name, one query each (none when nobody asks). */
  async function candidates(requests: TierRequest[]) {
    const patients = new Set<string>();
    const priorities = new Set<number>();
    const patientOrganisations = new Set<string>();
    const organisations = new Set<string>();
    const roles = new Set<Role>();
    for (const { alert, tiers } of requests) {
      for (const tier of tiers) {
        for (const recipient of recipientsOf(alert, tier)) {
          if (recipient.careTeam?.priority !== undefined && alert.patientId) {
            patients.add(String(alert.patientId));
            patientOrganisations.add(String(alert.organisationId));
            priorities.add(recipient.careTeam.priority);
          }
          if (recipient.role) {
            organisations.add(String(alert.organisationId));
            roles.add(recipient.role as Role);
          }
        }
      }
    }
    const scope = patientScope(patientOrganisations, patients);
    const links = patients.size ? (await CareTeam.find({ ...scope.filter, priority: { $in: [...priorities] } }, { patientId: 1, priority: 1, userId: 1 }).lean()).filter((l) => scope.keeps(l.patientId)) : [];
    const members = roles.size ? await User.find({ organisationId: { $in: oids(organisations) }, role: { $in: [...roles] }, disabled: false }, { organisationId: 1, role: 1 }).lean() : [];
    return {
      careTeam: groupIds(links, (l) => `${String(l.patientId)}:${l.priority}`, (l) => String(l.userId)),
      byRole: groupIds(members, (u) => `${String(u.organisationId)}:${u.role}`, (u) => String(u._id)),
    };
  }

  async function forMany(requests: TierRequest[]): Promise<TierUsers> {
    const { careTeam, byRole } = await candidates(requests);
    /**
     * In the order the tier names them, without repeats (as one recipient may also be a role member);
     * `member`: found through the patient's care team, so allowed to read about them by construction.
     */
    const namedBy = (alert: RecipientSubject, tier: number): Map<string, { member: boolean }> => {
      const named = new Map<string, { member: boolean }>();
      const add = (id: string, member: boolean) => {
        const known = named.get(id);
        if (known) known.member ||= member;
        else named.set(id, { member });
      };
      for (const recipient of recipientsOf(alert, tier)) {
        if (recipient.careTeam?.priority !== undefined && alert.patientId) for (const id of careTeam.get(`${String(alert.patientId)}:${recipient.careTeam.priority}`) ?? []) add(id, true);
        if (recipient.role) for (const id of byRole.get(`${String(alert.organisationId)}:${recipient.role}`) ?? []) add(id, false);
        if (recipient.userId && Types.ObjectId.isValid(recipient.userId)) add(recipient.userId, false);
      }
      return named;
    };
    const named = requests.flatMap(({ alert, tiers }) => tiers.map((tier) => ({ alert, named: namedBy(alert, tier) })));
    const wanted = new Set(named.flatMap(({ named }) => [...named.keys()]));
    // By _id alone, the rest checked here: the embedded store then answers from its _id map without
    // testing each user against the whole list again (thousands × thousands for a sweep).
    const users = wanted.size ? await User.find({ _id: { $in: oids(wanted) } }, { phone: 1, organisationId: 1, disabled: 1, role: 1, patientId: 1 }).lean() : [];
    const byId = new Map(users.map((user) => [String(user._id), user]));
    const links = await careTeamLinksOf(named, byId);
    /**
     * Disabled users and users of another organisation (a stale userId in a policy) are skipped, and
     * so is anyone a role or a name reaches who may not read about the alert's patient (a caregiver
     * off its care team, another patient), or about no patient (staff only): GET /alerts/{id} would
     * not show them the alert either (readers.ts asks the same of users told outside the tiers).
     */
    const mayBeTold = (alert: RecipientSubject, user: NonNullable<ReturnType<typeof byId.get>>, member: boolean): boolean => {
      if (user.disabled || String(user.organisationId) !== String(alert.organisationId)) return false;
      if (member) return true;
      if (!alert.patientId) return STAFF_ROLES.has(user.role);
      const accessor = { role: user.role, organisationId: String(user.organisationId), patientId: user.patientId ? String(user.patientId) : null };
      return accessLevelOf(accessor, { _id: alert.patientId, organisationId: alert.organisationId }, () => links.has(`${String(alert.patientId)}:${String(user._id)}`)) !== 'none';
    };
    return (alert, tier) =>
      [...namedBy(alert, tier)].flatMap(([id, { member }]) => {
        const user = byId.get(id);
        return user && mayBeTold(alert, user, member) ? [{ _id: user._id, phone: user.phone ?? null }] : [];
      });
  }

  /**
   * The care-team links of the caregivers a role or a name reaches, for the alerts' patients: one
   * query, and none in the usual case (tiers that name the care team by priority).
   */
  async function careTeamLinksOf(named: Array<{ alert: RecipientSubject; named: Map<string, { member: boolean }> }>, users: Map<string, { role: string }>): Promise<Set<string>> {
    const patients = new Set<string>();
    const organisations = new Set<string>();
    const caregivers = new Set<string>();
    for (const { alert, named: ids } of named) {
      if (!alert.patientId) continue;
      for (const [id, { member }] of ids) {
        if (member || users.get(id)?.role !== 'caregiver') continue;
        caregivers.add(id);
        patients.add(String(alert.patientId));
        organisations.add(String(alert.organisationId));
      }
    }
    if (!caregivers.size) return new Set();
    const scope = patientScope(organisations, patients);
    const links = await CareTeam.find({ ...scope.filter, userId: { $in: oids(caregivers) } }, { patientId: 1, userId: 1 }).lean();
    return new Set(links.filter((l) => scope.keeps(l.patientId)).map((l) => `${String(l.patientId)}:${String(l.userId)}`));
  }

  return { forMany };
}

export type RecipientLookup = ReturnType<typeof createRecipientLookup>;
