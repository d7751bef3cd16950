/**
 * Resumes interrupted deliveries. A notification to an outside channel (webhook, SMS, voice) is
 * recorded `pending`, then attempted in the background, in memory (delivery.ts): a process that
 * stops between the recording and the last attempt (a deploy, a crash, kill -9) would leave it
 * `pending` for good. The job `alerts.resume-deliveries` finds those — pending, recorded longer ago
 * than any live process can still be attempting them — claims each with a guarded update (so two
 * runs or two instances never resume the same one at once), rebuilds its delivery from what is
 * stored (the alert, the policy copied into it, the user's phone, the patient's initials) and
 * continues its attempts from the number already recorded, recorded and concluded as any other.
 *
 * Only what still makes sense is sent. A page (`alert.raised`, `alert.escalated`,
 * `alert.reactivated`) for an alert acknowledged or resolved since is not: it is marked `failed`
 * with reason `interrupted`, as is a notification whose alert, endpoint, user or phone is gone. A
 * page that falls within the alert's quiet hours (not for critical alerts) waits for their end, as
 * the tiers it would have told do. A follow-up (`alert.resolved`) goes out whatever the alert's state.
 * Receivers may see a notification again: it carries the same id (`X-Medhub-Delivery`) on every
 * attempt, resumed or not.
 */
import { Types, type QueryFilter } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { Delivery, DeliveryTarget } from '../../ports/notifier.js';
import type { IdentityModels, PatientDoc, UserDoc } from '../identity/models.js';
import { endpointLabel, legacyEndpointLabel, longestDeliveryMs, type AlertDelivery } from './delivery.js';
import { quietEnd } from './escalation-times.js';
import type { AlertDoc, AlertModels, NotificationDoc } from './models.js';
import { messageOf } from './notify.js';

/**
 * How long after it was recorded a `pending` notification counts as interrupted, and how long a
 * resumer's claim on it holds. A live process is done with a notification well within
 * `longestDeliveryMs` of recording it: with the defaults, 3 attempts each cut off by the notifiers'
 * 5 s request timeout, plus backoffs of 0.5 s and 1 s, 16.5 s. Two minutes is seven times that,
 * which leaves room for store writes queued behind a sweep, an event loop stalled under load and
 * clock skew between instances, and still resumes a page within about three minutes (this, plus
 * the job's one-minute cadence). Never less than four times the longest delivery of the settings
 * in force (see `staleAfterMs`), should those be raised.
 */
export const RESUME_AFTER_MS = 2 * 60_000;

/**
 * Notifications looked at per run; the next run (a minute later) takes the rest. A hub that died in
 * the middle of a worst-case sweep leaves thousands: a thousand a minute clears 10,000 in ten.
 */
export const RESUME_BATCH = 1000;

/**
 * A notification left pending longer than this is not sent any more (failed, `interrupted`), page
 * or follow-up: after a long outage, or those left before this job existed, a message a day late
 * misleads more than it helps.
 */
export const RESUME_MAX_AGE_MS = 24 * 60 * 60_000;

/** The reason of a notification abandoned because it no longer makes sense to send it. */
export const INTERRUPTED = 'interrupted';

/** The events that ask someone to act: not sent once the alert is acknowledged or resolved. */
const PAGES: ReadonlySet<string> = new Set(['alert.raised', 'alert.escalated', 'alert.reactivated']);

interface Deps {
  models: Pick<AlertModels, 'Alert' | 'Notification'>;
  identity: Pick<IdentityModels, 'Patient' | 'User'>;
  delivery: Pick<AlertDelivery, 'settings' | 'resume' | 'isAttempting'>;
  clock: Clock;
  logger: Logger;
}

type Recipient = Pick<UserDoc, '_id' | 'phone' | 'disabled'>;

/** What to do with one interrupted notification; `why` is a code for the log, never content. */
type Verdict = { resume: Omit<Delivery, 'attempt'> } | { abandon: string } | { holdUntil: Date };

const matchesLabel = (url: string | null | undefined, label: string | null | undefined): boolean => Boolean(url) && (endpointLabel(url) === label || legacyEndpointLabel(url) === label);

/**
 * Whether someone has acknowledged the alert since the notice was recorded: it is no longer
 * active, or it was acknowledged and re-activated since (the re-activation sent a notice of its own).
 */
function handledSince(alert: AlertDoc, recordedAt: Date): boolean {
  if (alert.status !== 'active') return true;
  return (alert.reactivations ?? []).some((entry) => entry.acknowledged?.at && new Date(entry.acknowledged.at).getTime() >= new Date(recordedAt).getTime());
}

/** Where the notification goes, rebuilt from the alert's policy and the user; or why it cannot go. */
function targetOf(notification: NotificationDoc, alert: AlertDoc, users: Map<string, Recipient>): DeliveryTarget | string {
  const page = PAGES.has(notification.event);
  if (notification.channel === 'webhook') {
    const endpoint = (alert.policy.webhooks ?? []).find((w) => matchesLabel(w.url, notification.endpoint));
    return endpoint ? { url: endpoint.url, secret: endpoint.secret } : 'endpoint_gone';
  }
  const user = notification.userId ? users.get(String(notification.userId)) : undefined;
  // An account disabled since is not paged (the tiers would no longer name it); a follow-up still tells it, as resolve.ts does.
  if (!user || (page && user.disabled)) return 'user_gone';
  if (notification.channel === 'socket') return { userId: String(user._id) };
  const gateway = notification.channel === 'sms' ? alert.policy.sms : alert.policy.voice;
  if (!gateway?.url || (notification.endpoint && !matchesLabel(gateway.url, notification.endpoint))) return 'gateway_gone';
  if (!user.phone) return 'no_phone';
  return { userId: String(user._id), phone: user.phone, url: gateway.url, secret: gateway.secret };
}

export function createDeliveryResumer({ models, identity, delivery, clock, logger }: Deps) {
  const { Alert, Notification } = models;
  const { Patient, User } = identity;
  const log = logger.child({ job: 'alerts.resume-deliveries' });

  /** RESUME_AFTER_MS, or more when the delivery settings in force make a live delivery last longer. */
  const staleAfterMs = (): number => Math.max(RESUME_AFTER_MS, 4 * longestDeliveryMs(delivery.settings));

  /** Pending, and nobody's claim still holding (never claimed, or the claim lapsed: its resumer stopped too). */
  const claimable = (now: Date): QueryFilter<NotificationDoc> => ({ status: 'pending', $or: [{ resumeClaimedUntil: null }, { resumeClaimedUntil: { $lte: now } }] });

  /** One atomic update: of two resumers, one gets the notification (as it is now), the other null. */
  const claim = (id: Types.ObjectId, now: Date, until: Date): Promise<NotificationDoc | null> =>
    Notification.findOneAndUpdate({ _id: id, ...claimable(now) }, { $set: { resumeClaimedUntil: until } }, { returnDocument: 'after' }).lean<NotificationDoc>();

  const failed = (reason: string, now: Date) => ({ $set: { status: 'failed', reason, completedAt: now } });

  /** Concludes a notification that will not be sent (guarded like a claim: never one another resumer holds). */
  async function conclude(id: Types.ObjectId, now: Date, reason: string): Promise<boolean> {
    const written = await Notification.updateOne({ _id: id, ...claimable(now) }, failed(reason, now));
    return written.modifiedCount === 1;
  }

  /** Concludes one this resumer has claimed. */
  const concludeClaimed = (id: Types.ObjectId, now: Date, reason: string) => Notification.updateOne({ _id: id, status: 'pending' }, failed(reason, now));

  function verdictOf(notification: NotificationDoc, alert: AlertDoc | undefined, users: Map<string, Recipient>, names: Map<string, string>, now: Date): Verdict {
    if (!alert) return { abandon: 'alert_gone' };
    if (now.getTime() - new Date(notification.createdAt).getTime() > RESUME_MAX_AGE_MS) return { abandon: 'too_old' };
    if (PAGES.has(notification.event)) {
      if (handledSince(alert, notification.createdAt)) return { abandon: 'alert_no_longer_active' };
      const quiet = quietEnd(alert, now);
      if (quiet) return { holdUntil: quiet };
    }
    const target = targetOf(notification, alert, users);
    if (typeof target === 'string') return { abandon: target };
    const message = messageOf(alert, alert.patientId ? names.get(String(alert.patientId)) : null);
    // As sendMany builds it (delivery.ts), so the receiver gets the message it would have got.
    return { resume: { channel: notification.channel, target, message: { ...message, notificationId: String(notification._id), tier: notification.tier, event: notification.event } } };
  }

  /** The alerts, patients' names and recipients the notifications need: three queries at most. */
  async function contextOf(notifications: NotificationDoc[]) {
    const alertIds = [...new Set(notifications.map((n) => String(n.alertId)))].map((id) => new Types.ObjectId(id));
    const alerts = new Map((await Alert.find({ _id: { $in: alertIds } }).lean<AlertDoc[]>()).map((a) => [String(a._id), a]));
    const patientIds = [...new Set([...alerts.values()].flatMap((a) => (a.patientId ? [String(a.patientId)] : [])))];
    const userIds = [...new Set(notifications.flatMap((n) => (n.channel !== 'webhook' && n.userId && Types.ObjectId.isValid(n.userId) ? [n.userId] : [])))];
    const [patients, users] = await Promise.all([
      patientIds.length ? Patient.find({ _id: { $in: patientIds.map((id) => new Types.ObjectId(id)) } }, { name: 1 }).lean<Pick<PatientDoc, '_id' | 'name'>[]>() : [],
      userIds.length ? User.find({ _id: { $in: userIds.map((id) => new Types.ObjectId(id)) } }, { phone: 1, disabled: 1 }).lean<Recipient[]>() : [],
    ]);
    return { alerts, names: new Map(patients.map((p) => [String(p._id), p.name])), users: new Map(users.map((u) => [String(u._id), u])) };
  }

  /**
   * One run: resumes up to RESUME_BATCH interrupted notifications, oldest first, and concludes
   * those no longer worth sending. Answers how many deliveries it resumed (they run in the
   * background: `delivery.settled()` waits for them).
   */
  async function resumeInterrupted(): Promise<number> {
    const now = clock.now();
    const staleMs = staleAfterMs();
    const found = await Notification.find({ ...claimable(now), createdAt: { $lte: new Date(now.getTime() - staleMs) } })
      .sort({ createdAt: 1, _id: 1 })
      .limit(RESUME_BATCH)
      .lean<NotificationDoc[]>();
    // A delivery this process is still attempting is not interrupted, however long it has taken.
    const interrupted = found.filter((n) => !delivery.isAttempting(n._id));
    if (!interrupted.length) return 0;
    const { alerts, names, users } = await contextOf(interrupted);
    const claimUntil = new Date(now.getTime() + staleMs);

    const resumed: string[] = [];
    const abandoned: Array<{ id: string; why: string }> = [];
    const held: string[] = [];
    for (const candidate of interrupted) {
      const id = candidate._id;
      const verdict = verdictOf(candidate, alerts.get(String(candidate.alertId)), users, names, now);
      if ('abandon' in verdict) {
        if (await conclude(id, now, INTERRUPTED)) abandoned.push({ id: String(id), why: verdict.abandon });
        continue;
      }
      if ('holdUntil' in verdict) {
        // Claimed until quiet hours end: no run looks at it before then, and it goes out after.
        if (await claim(id, now, verdict.holdUntil)) held.push(String(id));
        continue;
      }
      const claimed = await claim(id, now, claimUntil);
      if (!claimed) continue; // another resumer has it, or it was concluded meanwhile
      const recorded = claimed.attempts ?? [];
      if (recorded.length >= delivery.settings.maxAttempts) {
        // No attempt left (recorded by a process allowed more): concluded by its last one, as delivery.ts would have.
        await concludeClaimed(id, now, recorded.at(-1)?.error ?? 'failed');
        abandoned.push({ id: String(id), why: 'no_attempt_left' });
      } else if (delivery.isAttempting(id)) {
        continue; // taken up here meanwhile (cannot happen without its claim; never attempted twice at once)
      } else if (delivery.resume(id, verdict.resume, recorded.length + 1)) {
        resumed.push(String(id));
      } else {
        await concludeClaimed(id, now, INTERRUPTED);
        abandoned.push({ id: String(id), why: 'channel_unavailable' });
      }
    }

    if (resumed.length) log.info({ resumed: resumed.length, notificationIds: resumed }, 'resumed interrupted notification deliveries');
    if (abandoned.length) log.warn({ abandoned: abandoned.length, notifications: abandoned }, 'interrupted notifications no longer worth sending: marked failed');
    if (held.length) log.info({ held: held.length, notificationIds: held }, 'interrupted notifications held until quiet hours end');
    return resumed.length;
  }

  return { resumeInterrupted, staleAfterMs };
}

export type DeliveryResumer = ReturnType<typeof createDeliveryResumer>;
