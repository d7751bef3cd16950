/**
 * Resolving alerts because their causes cleared, one or a sweep's worth at a
 * time, and the follow-up everyone an alert reached gets once it is resolved.
 * Batches cost the same few store round trips as one alert: the open alerts
 * of the causes, one updateMany (guarded by `open: true`, since a person or
 * another resolution may resolve one meanwhile; each resolution writes its own
 * claim, so only the writer follows an alert up), a read back of the few
 * fields an open alert may have gained meanwhile (of whole alerts when some
 * were resolved by someone else), then the follow-ups planned and recorded
 * together.
 */
import { Types, type Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { IdentityModels } from '../identity/models.js';
import { inBatches } from './batches.js';
import type { AlertRef } from './contract.js';
import type { AlertDoc, NotificationDoc } from './models.js';
import type { AlertNotify } from './notify.js';
import { findOpenByCause } from './open-alerts.js';
import { planFollowUp, type Reached } from './plan.js';
import { alertRef } from './raise.js';
import { handedOver } from './succession.js';

interface Deps {
  Alert: Model<AlertDoc>;
  Notification: Model<NotificationDoc>;
  User: IdentityModels['User'];
  notices: AlertNotify;
  publish: (alert: AlertDoc) => void;
  clock: Clock;
}

/** The fields of an alert that change while it is open (acknowledge, escalate, re-activate), besides those resolving sets. */
const MUTABLE_WHILE_OPEN = { acknowledged: 1, tier: 1, notifiedTier: 1, reactivations: 1 } as const;

export function createResolver({ Alert, Notification, User, notices, publish, clock }: Deps) {
  /**
   * Once resolved, everyone each alert reached (delivered, not a follow-up itself) hears it is over —
   * unless its successor is open (a dose.late resolved as its dose.missed takes over): that one tells
   * them what happened, and "it is over" at the same moment would say the opposite.
   */
  async function followUp(resolved: AlertDoc[]): Promise<void> {
    if (!resolved.length) return;
    const successorOpen = await handedOver(Alert, resolved);
    const alerts = resolved.filter((alert) => !successorOpen.has(String(alert._id)));
    if (!alerts.length) return;
    // By alertId alone (the embedded store then answers from the index without re-testing the list); the rest is checked here.
    const sent = await Notification.find({ alertId: { $in: alerts.map((a) => a._id) } }, { alertId: 1, channel: 1, userId: 1, endpoint: 1, tier: 1, status: 1, event: 1 }).lean();
    const reached = new Map<string, Reached[]>();
    for (const n of sent) if (n.status === 'delivered' && n.event !== 'alert.resolved') reached.set(String(n.alertId), [...(reached.get(String(n.alertId)) ?? []), n]);
    if (!reached.size) return;
    const userIds = [...new Set([...reached.values()].flat().flatMap((n) => (n.userId ? [String(n.userId)] : [])))];
    const users = new Map((userIds.length ? await User.find({ _id: { $in: userIds.map((id) => new Types.ObjectId(id)) } }, { phone: 1 }).lean() : []).map((u) => [String(u._id), u]));
    const phoneOf = (userId: string): string | null => users.get(userId)?.phone ?? null;
    await notices.send(alerts.map((alert) => ({ alert, planned: planFollowUp(alert, reached.get(String(alert._id)) ?? [], phoneOf) })));
  }

  function resolveCauses(causes: string[], note: string): Promise<AlertRef[]> {
    return inBatches([...new Set(causes)], (batch) => resolveBatch(batch, note));
  }

  /** `causes`: distinct. */
  async function resolveBatch(causes: string[], note: string): Promise<AlertRef[]> {
    const open = [...(await findOpenByCause(Alert, causes)).values()];
    if (!open.length) return [];
    const claim = new Types.ObjectId();
    const resolved = { by: null, at: clock.now(), note, auto: true, claim };
    // updatedAt set here (as mongoose's timestamps would), so that the documents as written are known without reading them whole.
    const change = { status: 'resolved' as const, open: false, nextEscalationAt: null, resolved, updatedAt: new Date() };
    const ids = open.map((alert) => alert._id);
    // One statement for the batch (the same change for each; `open: true` guards those a person resolved meanwhile).
    const written = await Alert.updateMany({ _id: { $in: ids }, open: true }, { $set: change }, { timestamps: false });
    let ours: AlertDoc[];
    if (written.matchedCount === open.length) {
      // All ours: as read, with what an open alert may have gained meanwhile (an acknowledgement, a
      // later tier) read again — a few fields, not the whole alerts with their policies.
      const since = new Map((await Alert.find({ _id: { $in: ids } }, MUTABLE_WHILE_OPEN).lean<AlertDoc[]>()).map((alert) => [String(alert._id), alert]));
      ours = open.map((alert) => ({ ...alert, ...since.get(String(alert._id)), ...change }));
    } else {
      // A person, or another resolution of the same causes, resolved some meanwhile (they keep theirs,
      // and their follow-up): ours carry this resolution's claim.
      ours = (await Alert.find({ _id: { $in: ids } }).lean<AlertDoc[]>()).filter((a) => a.resolved?.claim?.equals(claim));
    }
    for (const alert of ours) publish(alert);
    await followUp(ours);
    return ours.map(alertRef);
  }

  return { followUp, resolveCauses };
}
