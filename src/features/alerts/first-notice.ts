/**
 * The alert is its own outbox for the notice that starts its escalation (a new alert's first tiers,
 * or a re-activated alert's starting tiers told again): it is stored owing that notice
 * (`notifiedTier` -1, `nextEscalationAt` a grace from now) and marked as told once the notifications
 * are recorded. A hub that dies in between, or a store that fails then, leaves the notice to the
 * escalation tick after the grace (service.ts escalate: an alert whose notifiedTier is below its
 * tier is told from its first tier) instead of never sending it.
 */
import type { Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';
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

export interface NoticeDeps {
  Alert: Model<AlertDoc>;
  /** Ids of alerts whose notice this process is telling: the escalation tick leaves them alone meanwhile. */
  inFlight: Set<string>;
  clock: Clock;
  logger: Logger;
}

/**
 * Tells the notice of alerts that owe it (`tell`: their notifications planned and recorded), then
 * marks them told; they are in flight from before the telling until marked, so that a tick in
 * between does not tell them again. When the notice cannot be recorded, it is left to the tick (due
 * now) and `undefined` answered; a failed mark only means the tick tells it again after the grace.
 */
export async function tellOwed<T>({ Alert, inFlight, clock, logger }: NoticeDeps, owing: Owing[], what: string, tell: () => Promise<T>): Promise<T | undefined> {
  const ids = owing.map((c) => String(c.doc._id));
  for (const id of ids) inFlight.add(id);
  try {
    let told: T;
    try {
      told = await tell();
    } catch (error) {
      // Stored and live, but not told: left to the escalation tick rather than lost (the alert stands).
      logger.error({ err: error, alerts: ids.length, alertIds: ids.slice(0, 10) }, `could not tell ${what}; the escalation tick will`);
      await deferFirstNotice(Alert, owing, clock.now()).catch((failure: unknown) => logger.error({ err: failure, alertIds: ids.slice(0, 10) }, `could not leave ${what} to the escalation tick`));
      return undefined;
    }
    await markTold(Alert, owing).catch((error: unknown) => logger.error({ err: error, alertIds: ids.slice(0, 10) }, `could not mark ${what} as told; the escalation tick will tell it again`));
    return told;
  } finally {
    for (const id of ids) inFlight.delete(id);
  }
}
