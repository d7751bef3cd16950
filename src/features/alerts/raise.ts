/**
 * Raising alerts, one or thousands at once, with the same few store round
 * trips either way: the open alerts of the causes (one query), the policies
 * in force and the patients (one query each, in parallel), one unordered
 * insertMany, then the first tiers' notifications planned and recorded in
 * bulk (notify.ts). `raise(x)` is `raiseMany([x])`: one code path.
 *
 * One open alert per cause: causes already open answer with the open alert
 * (re-activated first when acknowledged and the cause is a new incident, see
 * reactivate.ts); a cause repeated in the batch is raised once; and when
 * another instance (or a concurrent call) opens the same cause first, the
 * unique partial index refuses our insert (E11000) and we answer with its
 * alert. A new alert that takes over from another (dose.missed after the
 * dose's dose.late) starts at the tier its predecessor reached (succession.ts).
 */
import { Types, type Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';
import type { IdentityModels, PatientDoc } from '../identity/models.js';
import { inBatches } from './batches.js';
import type { AlertRef, AlertSeverity, AlertStatus, AlertType, RaiseAlert } from './contract.js';
import { escalationStart, range, startingTier } from './escalation-times.js';
import type { AlertDoc } from './models.js';
import type { AlertNotify, PatientNames, TierNotice } from './notify.js';
import { findOpenByCause } from './open-alerts.js';
import type { PolicyInForce, PolicyLookup } from './policy-lookup.js';
import { absorbRepeats, reactivates, type Reactivation } from './reactivate.js';
import { asTold, owesFirstNotice, tellOwed, type Owing } from './first-notice.js';
import { findPredecessors, type Predecessor } from './succession.js';

export const DEFAULT_SEVERITY: Record<AlertType, AlertSeverity> = {
  'dose.missed': 'warning',
  'dose.late': 'info',
  'device.offline': 'warning',
  'device.jam': 'warning',
  'device.tamper': 'warning',
  'battery.low': 'warning',
  'refill.low': 'warning',
  'help.requested': 'critical',
};

export const alertRef = (alert: AlertDoc): AlertRef => ({ id: String(alert._id), cause: alert.cause, status: alert.status as AlertStatus });

/** A new alert as it will be stored, whether quiet hours hold back its first notifications, and its state once told (first-notice.ts). */
type NewAlert = Owing & { skip?: 'quiet_hours' };

interface Deps {
  Alert: Model<AlertDoc>;
  Patient: IdentityModels['Patient'];
  policies: PolicyLookup;
  notify: AlertNotify;
  publish: (alert: AlertDoc) => void;
  reactivation: Reactivation;
  /** New alerts whose first tiers reached nobody were made due for their next tier: escalate them now. */
  escalateSoon: () => void;
  /** Ids of new alerts whose first notice this process is telling: the escalation tick leaves them alone meanwhile. */
  firstNoticesInFlight: Set<string>;
  clock: Clock;
  logger: Logger;
}

/** The first input of each cause, in order (raising a cause twice in a row opens one alert). */
function firstPerCause(inputs: RaiseAlert[]): RaiseAlert[] {
  const seen = new Map<string, RaiseAlert>();
  for (const input of inputs) if (!seen.has(input.cause)) seen.set(input.cause, input);
  return [...seen.values()];
}

/**
 * The document of a new alert: severity and starting tier by default per type (a successor starts no
 * lower than its predecessor reached), the policy in force copied in, the escalation start decided now.
 */
function newAlert(input: RaiseAlert, { policy, source }: PolicyInForce, timezone: string, now: Date, predecessor?: Predecessor): NewAlert {
  const severity = input.severity ?? DEFAULT_SEVERITY[input.type];
  const tier = Math.max(startingTier(input, policy), Math.min(predecessor?.tier ?? 0, policy.tiers.length - 1));
  const kept = { ...policy, timezone, source };
  const { notifiedTier, nextEscalationAt, skip } = escalationStart({ severity, policy: kept } as AlertDoc, tier, now);
  // Told now (not held back by quiet hours, someone to tell): stored owing its first notice until told.
  const { stored, told } = owesFirstNotice({ notifiedTier, nextEscalationAt }, skip === undefined && kept.tiers.length > 0, now);
  // Stored lean (see store()), so every field the schema would default is set here; timestamps as mongoose sets them on this schema's other writes.
  const stamp = new Date();
  const doc = {
    _id: new Types.ObjectId(),
    organisationId: new Types.ObjectId(input.organisationId),
    patientId: input.patientId ? new Types.ObjectId(input.patientId) : null,
    deviceId: input.deviceId ?? null,
    type: input.type,
    severity,
    cause: input.cause,
    status: 'active',
    open: true,
    raisedAt: input.at ?? now,
    acknowledged: null,
    resolved: null,
    tier,
    ...stored,
    policy: kept,
    details: input.details ?? {},
    reactivations: [],
    follows: predecessor?._id ?? null,
    createdAt: stamp,
    updatedAt: stamp,
  } as unknown as AlertDoc;
  return { doc, skip, ...(told ? { told } : {}) };
}

export function createRaise({ Alert, Patient, policies, notify, publish, reactivation, escalateSoon, firstNoticesInFlight, clock, logger }: Deps) {
  const openByCause = (causes: string[]): Promise<Map<string, AlertDoc>> => findOpenByCause(Alert, causes);

  async function patientsOf(inputs: RaiseAlert[]): Promise<Map<string, PatientDoc>> {
    const ids = [...new Set(inputs.flatMap((i) => (i.patientId ? [i.patientId] : [])))];
    if (!ids.length) return new Map();
    const patients = await Patient.find({ _id: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { timezone: 1, name: 1 }).lean<PatientDoc[]>();
    return new Map(patients.map((p) => [String(p._id), p]));
  }

  /**
   * One unordered insert: a duplicate (the cause opened meanwhile) or any other failure does not
   * stop the rest. After a failure, which documents were stored is asked by id.
   */
  async function store(docs: AlertDoc[]): Promise<{ stored: AlertDoc[]; error?: unknown }> {
    try {
      // Lean: the documents are complete, and hydrating thousands of them (policy and all) costs more than the insert.
      await Alert.insertMany(docs, { ordered: false, lean: true });
      return { stored: docs };
    } catch (error) {
      const stored = await Alert.find({ _id: { $in: docs.map((d) => d._id) } }).lean<AlertDoc[]>();
      return { stored, error };
    }
  }

  /** Stores the new alerts; answers those stored, those another raiser opened first, and the first error if some could not be stored. */
  async function create(fresh: RaiseAlert[]): Promise<{ created: NewAlert[]; openedElsewhere: Map<string, AlertDoc>; names: PatientNames; error?: unknown }> {
    const now = clock.now();
    const [policyOf, patients, predecessors] = await Promise.all([policies.forMany(fresh), patientsOf(fresh), findPredecessors(Alert, fresh)]);
    const timezoneOf = (input: RaiseAlert): string => (input.patientId ? patients.get(input.patientId)?.timezone : null) ?? 'UTC';
    const planned = fresh.map((input) => newAlert(input, policyOf(input), timezoneOf(input), now, predecessors.get(input.cause)));
    const { stored, error } = await store(planned.map((p) => p.doc));
    const storedIds = new Set(stored.map((doc) => String(doc._id)));
    const created = planned.filter((p) => storedIds.has(String(p.doc._id)));
    const lost = planned.filter((p) => !storedIds.has(String(p.doc._id))).map((p) => p.doc.cause);
    const names: PatientNames = new Map([...patients].map(([id, p]) => [id, p.name]));
    return { created, openedElsewhere: await openByCause(lost), names, error: lost.length ? error : undefined };
  }

  /** Live news first (alert:raised), then the first tiers: told now, or recorded as suppressed during quiet hours. */
  async function announce(created: NewAlert[], names: PatientNames): Promise<void> {
    for (const alert of created.map(asTold)) {
      logger.info({ alertId: String(alert._id), type: alert.type, severity: alert.severity, patientId: alert.patientId ? String(alert.patientId) : null }, 'alert raised');
      publish(alert);
    }
    const notices: TierNotice[] = created.filter(({ doc }) => doc.policy.tiers.length > 0).map((c) => ({ alert: asTold(c), tiers: range(0, c.doc.tier), event: 'alert.raised', skip: c.skip }));
    const owing = created.filter((c) => c.told);
    const unreached = await tellOwed({ Alert, inFlight: firstNoticesInFlight, clock, logger }, owing, 'the first tiers of new alerts', () => notify.tiers(notices, names));
    if (unreached && (await moveOnFromUnreached(Alert, unreached, clock.now(), logger))) escalateSoon();
  }

  /**
   * Acknowledged alerts whose cause happened again as a new incident are re-activated (one at a time:
   * device events, a few at most); `open` then holds each as it now is, without those resolved meanwhile.
   */
  async function reactivateRecurring(inputs: RaiseAlert[], open: Map<string, AlertDoc>): Promise<void> {
    for (const input of inputs) {
      const alert = open.get(input.cause);
      if (!alert || !reactivates(input, alert)) continue;
      const current = await reactivation.reactivate(input, alert);
      if (current) open.set(input.cause, current);
      else open.delete(input.cause);
    }
  }

  function raiseMany(inputs: RaiseAlert[]): Promise<AlertRef[]> {
    return inBatches(inputs, raiseBatch);
  }

  async function raiseBatch(inputs: RaiseAlert[]): Promise<AlertRef[]> {
    if (!inputs.length) return [];
    const unique = firstPerCause(inputs);
    const open = await openByCause(unique.map((i) => i.cause));
    await reactivateRecurring(unique, open);
    const fresh = unique.filter((i) => !open.has(i.cause));
    if (fresh.length) {
      const { created, openedElsewhere, names, error } = await create(fresh);
      await announce(created, names);
      for (const { doc } of created) open.set(doc.cause, doc);
      for (const [cause, alert] of openedElsewhere) open.set(cause, alert);
      // Those neither stored nor opened by someone else failed: the rest are fully raised, so a retry is harmless.
      if (fresh.some((i) => !open.has(i.cause))) throw error ?? new Error('alerts could not be stored');
    }
    // Every input, repeats within the batch included: a help request or jam counted by none is remembered.
    await absorbRepeats(Alert, inputs, open);
    return inputs.map((input) => alertRef(open.get(input.cause) as AlertDoc));
  }

  return { raiseMany, raise: async (input: RaiseAlert): Promise<AlertRef> => (await raiseMany([input]))[0] as AlertRef };
}

/**
 * Alerts whose tiers just told reached nobody (no care team at that priority, no webhook, every
 * recipient disabled…): their next tier is due now rather than after its delay — nobody was paged,
 * and a call for help must not wait 15 minutes for that. Answers whether any can move on.
 */
export async function moveOnFromUnreached(Alert: Model<AlertDoc>, unreached: AlertDoc[], now: Date, logger: Logger): Promise<boolean> {
  if (!unreached.length) return false;
  const hasNext = (alert: AlertDoc): boolean => alert.nextEscalationAt !== null && alert.nextEscalationAt !== undefined;
  const ids = (alerts: AlertDoc[]) => ({ alerts: alerts.length, alertIds: alerts.slice(0, 10).map((a) => String(a._id)) });
  const last = unreached.filter((alert) => !hasNext(alert));
  if (last.length) logger.warn(ids(last), 'alerts reached nobody, and no tier is left to tell');
  const movable = unreached.filter(hasNext);
  if (!movable.length) return false;
  logger.warn(ids(movable), 'alert tiers reached nobody; their next tiers are told now');
  const moved = await Alert.bulkWrite(
    movable.map((alert) => ({ updateOne: { filter: { _id: alert._id, status: 'active', tier: alert.tier, nextEscalationAt: alert.nextEscalationAt }, update: { $set: { nextEscalationAt: now } } } })),
    { ordered: false },
  );
  // Matched, not modified: a next tier with no delay is due now already, and is told all the same.
  return moved.matchedCount > 0;
}
