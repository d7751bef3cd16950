/**
 * The alert is its own outbox for the notice that starts its escalation (a new alert's first tiers,
 * or a re-activated alert's starting tiers told again): it is stored owing that notice
 * (`notifiedTier` -1, `nextEscalationAt` a grace from now) and marked as told once the notifications
 * are recorded. A hub that dies in between, or a store that fails then, leaves the notice to the
 * escalation tick after the grace (service.ts escalate: an alert whose notifiedTier is below its
 * tier is told from its first tier) instead of never sending it.
 */
import type { Model } from 'mongoose';
import type { AlertDoc } from './models.js';

/** How long the notice may take before the tick tells it instead: long enough not to overtake a raise still at work. */
export const FIRST_NOTICE_GRACE_MS = 2 * 60_000;

/** An alert as stored (`doc`) and, when it owes its notice, the escalation state it takes once told. */
export interface Owing {
  doc: AlertDoc;
  told?: Pick<AlertDoc, 'notifiedTier' | 'nextEscalationAt'>;
}

/**
 * The escalation state to store for an alert whose notice is told now: owing it, due at the grace
 * (`told` keeps the state it takes once told). Held back by quiet hours or without tiers: as planned.
 */
export function owesFirstNotice(planned: Pick<AlertDoc, 'notifiedTier' | 'nextEscalationAt'>, toldNow: boolean, now: Date): { stored: Pick<AlertDoc, 'notifiedTier' | 'nextEscalationAt'>; told?: Owing['told'] } {
  if (!toldNow) return { stored: planned };
  return { stored: { notifiedTier: -1, nextEscalationAt: new Date(now.getTime() + FIRST_NOTICE_GRACE_MS) }, told: planned };
}

/** The alert as it is once its notice is recorded: what caregivers are shown and told. */
export const asTold = ({ doc, told }: Owing): AlertDoc => (told ? { ...doc, ...told } : doc);

/** The guard of an alert still owing its notice, as stored. */
const stillOwing = ({ doc }: Owing) => ({ status: 'active' as const, tier: doc.tier, notifiedTier: -1, nextEscalationAt: doc.nextEscalationAt });

/** Alerts whose notice failed: told by the next escalation tick (due now rather than after the grace). */
export async function deferFirstNotice(Alert: Model<AlertDoc>, owing: Owing[], now: Date): Promise<void> {
  if (!owing.length) return;
  await Alert.bulkWrite(
    owing.map((c) => ({ updateOne: { filter: { _id: c.doc._id, ...stillOwing(c) }, update: { $set: { nextEscalationAt: now } } } })),
    { ordered: false },
  );
}

/**
 * Alerts whose notifications are recorded: their escalation state as told. One command: an
 * updateMany per starting tier and next escalation time (a sweep's thousands of alerts share a
 * handful), each guarded so that an alert acknowledged or taken over by the tick meanwhile is left
 * as it is.
 */
export async function markTold(Alert: Model<AlertDoc>, owing: Owing[]): Promise<void> {
  const told = owing.filter((c) => c.told);
  if (!told.length) return;
  const groups = new Map<string, Owing[]>();
  for (const c of told) {
    const key = `${c.doc.tier}|${c.doc.nextEscalationAt?.getTime()}|${c.told?.notifiedTier}|${c.told?.nextEscalationAt?.getTime() ?? 'none'}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  const updates = [...groups.values()].map((group) => {
    const first = group[0] as Owing;
    return { updateMany: { filter: { _id: { $in: group.map((c) => c.doc._id) }, ...stillOwing(first) }, update: { $set: { ...first.told } } } };
  });
  await Alert.bulkWrite(updates, { ordered: false });
}
