/**
 * Which escalation policy is in force for a patient: their own, else their
 * organisation's default, else the built-in DEFAULT_POLICY. `forMany` answers
 * for every (organisation, patient) of a batch with one query.
 */
import type { Model } from 'mongoose';
import type { EscalationPolicyDoc } from './models.js';
import { patientScope } from './patient-scope.js';
import { toPolicy, type EscalationPolicy } from './policy.js';

export type PolicySource = 'patient' | 'organisation' | 'default';
export interface PolicyInForce {
  policy: EscalationPolicy;
  source: PolicySource;
}
export interface PolicyOwner {
  organisationId: string;
  patientId: string | null;
}

const keyOf = (organisationId: unknown, patientId: unknown): string => `${String(organisationId)}:${patientId ? String(patientId) : ''}`;

export function createPolicyLookup(EscalationPolicy: Model<EscalationPolicyDoc>) {
  /** One query for every owner of a batch; answers with a lookup of the policy in force for each. */
  async function forMany(owners: PolicyOwner[]): Promise<(owner: PolicyOwner) => PolicyInForce> {
    // The organisations' defaults and the patients' own policies (see patient-scope.ts).
    const scope = patientScope(
      owners.map((o) => o.organisationId),
      owners.flatMap((o) => (o.patientId ? [o.patientId] : [])),
      { withOrganisationWide: true },
    );
    const stored = owners.length ? (await EscalationPolicy.find(scope.filter).lean<EscalationPolicyDoc[]>()).filter((doc) => scope.keeps(doc.patientId)) : [];
    const byOwner = new Map(stored.map((doc) => [keyOf(doc.organisationId, doc.patientId), doc]));
    // Converted once per stored policy (and once for the default), however many alerts share it; nobody mutates them.
    const converted = new Map<string, PolicyInForce>();
    const convert = (key: string, doc: EscalationPolicyDoc | null, source: PolicySource): PolicyInForce => {
      let found = converted.get(key);
      if (!found) converted.set(key, (found = { policy: toPolicy(doc as never), source }));
      return found;
    };
    return (owner) => {
      const ownKey = keyOf(owner.organisationId, owner.patientId);
      const own = owner.patientId ? byOwner.get(ownKey) : undefined;
      if (own) return convert(ownKey, own, 'patient');
      const orgKey = keyOf(owner.organisationId, null);
      const fallback = byOwner.get(orgKey);
      if (fallback) return convert(orgKey, fallback, 'organisation');
      return convert('', null, 'default');
    };
  }

  return {
    forMany,
    async forOne(organisationId: string, patientId: string | null): Promise<PolicyInForce> {
      return (await forMany([{ organisationId, patientId }]))({ organisationId, patientId });
    },
  };
}

export type PolicyLookup = ReturnType<typeof createPolicyLookup>;
