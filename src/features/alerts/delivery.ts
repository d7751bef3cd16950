/**
 * Sends notifications through the Notifier adapters, with retries and
 * exponential backoff for outside channels, recording every attempt on the
 * notification document (an immediate channel's notification is stored as
 * delivered by the one attempt that follows the write). Deliveries run in the background (a device's PUBACK
 * or an escalation tick never waits on a slow webhook); `settled()` waits for
 * the ones in flight (tests, shutdown). A batch of notifications (a sweep's
 * alerts) is recorded with one insertMany, and attempts finishing together
 * are written together (attempt-log.ts). The attempts live in memory: a delivery
 * whose process stopped before its last attempt is continued by resume.ts.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Types } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import { settledWithin } from '../../settled-within.js';
import type { Logger } from '../../observability/logger.js';
import type { AttemptResult, Delivery, DeliveryTarget, NotificationMessage, Notifier, NotifyChannel } from '../../ports/notifier.js';
import { createAttemptLog } from './attempt-log.js';
import type { AlertModels } from './models.js';

export interface DeliveryOptions {
  /** Attempts for outside channels (webhook, sms, voice); an immediate channel (the socket) tries once. */
  maxAttempts: number;
  /** First retry after this many ms, then doubled each time. */
  backoffMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { maxAttempts: 3, backoffMs: 500 };

/**
 * How long one attempt of an outside channel may take at most: the webhook and SMS/voice gateway
 * notifiers (src/ports/adapters/notifiers/) abort their request after this (index.ts gives it to them).
 */
export const OUTSIDE_REQUEST_TIMEOUT_MS = 5_000;

/**
 * The longest a notification's attempts can take from its recording to its last attempt when
 * nothing stops the process: every attempt timing out, with every backoff between them
 * (3 × 5 s + 0.5 s + 1 s = 16.5 s with the defaults). The store writes come on top.
 */
export function longestDeliveryMs(options: DeliveryOptions, requestTimeoutMs = OUTSIDE_REQUEST_TIMEOUT_MS): number {
  const attempts = Math.max(1, options.maxAttempts);
  return attempts * requestTimeoutMs + options.backoffMs * (2 ** (attempts - 1) - 1);
}

export interface PlannedNotification {
  alertId: Types.ObjectId;
  organisationId: Types.ObjectId;
  tier: number;
  event: NotificationMessage['event'];
  channel: NotifyChannel;
  target: DeliveryTarget;
  /** Suppressed (quiet hours) or impossible (no phone): recorded, not sent. */
  skip?: string;
}

/** What every notification of one alert says (its id, tier and event are added per notification). */
export type AlertMessage = Omit<NotificationMessage, 'notificationId' | 'tier' | 'event'>;

/** The notifications of one alert and its message. */
export interface NotificationBatch {
  planned: PlannedNotification[];
  message: AlertMessage;
}

/** Resolves after `ms`, or at once when `signal` aborts (the process is stopping). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms).unref();
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * What the delivery log keeps of an endpoint: its origin and a fingerprint of the whole URL (to tell
 * two endpoints of one host apart), never its path or query — either may hold the receiver's token
 * (Slack, Discord and Zapier hooks carry theirs in the path).
 */
export function endpointLabel(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    return `${new URL(url).origin}/… #${createHash('sha256').update(url).digest('hex').slice(0, 8)}`;
  } catch {
    return null;
  }
}

/** The label of records written before fingerprints (origin and path): still matched for follow-ups. */
export function legacyEndpointLabel(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return null;
  }
}

/** A stored label as the log shows it: a legacy one loses its path. */
export function shownEndpoint(label: string | null | undefined): string | null {
  if (!label) return null;
  if (label.includes('/… #')) return label;
  try {
    return `${new URL(label).origin}/…`;
  } catch {
    return null;
  }
}

export function createDelivery(models: AlertModels, notifiers: Notifier[], clock: Clock, logger: Logger, options: DeliveryOptions = DEFAULT_DELIVERY) {
  const { Notification } = models;
  const byChannel = new Map(notifiers.map((n) => [n.channel, n]));
  const inFlight = new Set<Promise<void>>();
  /** The notifications whose attempts this process is making (resume.ts leaves them alone). */
  const attempting = new Set<string>();
  const settings = { ...options };
  const attempts = createAttemptLog(Notification);
  /** Aborted when the process stops: a delivery waiting for its next attempt stops waiting. */
  const stopping = new AbortController();
  // One listener per delivery waiting for its next attempt: any number may wait (a receiver down).
  setMaxListeners(0, stopping.signal);

  /** One attempt, as the delivery log records it; a throwing adapter counts as a retryable failure. */
  async function attemptOnce(notifier: Notifier, delivery: Omit<Delivery, 'attempt'>, attempt: number) {
    const started = performance.now();
    const at = clock.now();
    const result = await notifier.send({ ...delivery, attempt }).catch((error: unknown) => ({ ok: false, retryable: true, error: (error as Error).name || 'error', statusCode: undefined }));
    const record = { attempt, at, ok: result.ok, statusCode: result.statusCode ?? null, error: result.error ?? null, durationMs: Math.round(performance.now() - started) };
    return { result, record };
  }

  /** What a notification's last attempt makes of it. */
  const outcomeOf = (result: AttemptResult) => ({ status: result.ok ? 'delivered' : 'failed', reason: result.ok ? null : (result.error ?? 'failed'), completedAt: clock.now() });

  /** Attempts `from`..maxAttempts (1 for a new notification; after the recorded ones for a resumed one). */
  async function attemptAll(id: Types.ObjectId, notifier: Notifier, delivery: Omit<Delivery, 'attempt'>, from = 1): Promise<void> {
    for (let attempt = from; attempt <= settings.maxAttempts; attempt += 1) {
      const { result, record } = await attemptOnce(notifier, delivery, attempt);
      const last = result.ok || !result.retryable || attempt === settings.maxAttempts;
      await attempts.record(id, { $push: { attempts: record }, ...(last ? { $set: outcomeOf(result) } : {}) });
      if (last) return;
      await sleep(settings.backoffMs * 2 ** (attempt - 1), stopping.signal);
      // Left pending: resume.ts continues it from the next attempt once a hub runs again.
      if (stopping.signal.aborted) return;
    }
  }

  /** The notification document, and (unless skipped) the delivery to make once it is stored. */
  function prepare(item: PlannedNotification, message: AlertMessage, now: Date) {
    const notifier = byChannel.get(item.channel);
    const skip = item.skip ?? (!notifier ? 'channel_unavailable' : notifier.unreachable?.(item.target) ? 'not_connected' : undefined);
    const id = new Types.ObjectId();
    // An immediate channel (the socket) is stored as delivered by the one attempt that follows the
    // write: one write instead of two (a sweep raising thousands of alerts wrote thousands of each),
    // and nobody is told of a notification that could not be recorded.
    const immediate = !skip && notifier?.immediate === true;
    const doc = {
      _id: id,
      alertId: item.alertId,
      organisationId: item.organisationId,
      tier: item.tier,
      event: item.event,
      channel: item.channel,
      userId: item.target.userId ?? null,
      endpoint: endpointLabel(item.target.url),
      status: skip ? (skip === 'quiet_hours' ? 'suppressed' : 'failed') : immediate ? 'delivered' : 'pending',
      reason: skip ?? null,
      attempts: immediate ? [{ attempt: 1, at: now, ok: true, statusCode: null, error: null, durationMs: 0 }] : [],
      createdAt: now,
      completedAt: skip || immediate ? now : null,
      resumeClaimedUntil: null,
    };
    const delivery = skip || !notifier ? null : { id, notifier, delivery: { channel: item.channel, target: item.target, message: { ...message, notificationId: String(id), tier: item.tier, event: item.event } } };
    return { doc, delivery };
  }

  function start(id: Types.ObjectId, notifier: Notifier, delivery: Omit<Delivery, 'attempt'>, from = 1): void {
    const key = String(id);
    attempting.add(key);
    const work = attemptAll(id, notifier, delivery, from).catch((error: unknown) => logger.error({ err: error, notificationId: key }, 'notification delivery failed'));
    inFlight.add(work);
    void work.finally(() => {
      inFlight.delete(work);
      attempting.delete(key);
    });
  }

  /** Records every notification of every batch with one insertMany, then delivers them in the background. */
  async function sendMany(batches: NotificationBatch[]): Promise<void> {
    const now = clock.now();
    const prepared = batches.flatMap(({ planned, message }) => planned.map((item) => prepare(item, message, now)));
    if (!prepared.length) return;
    // The documents are complete (every field set here), so mongoose need not hydrate and validate them.
    await Notification.insertMany(
      prepared.map((p) => p.doc),
      { lean: true },
    ).catch(async (error: unknown) => {
      // Nothing of a batch that failed is sent, so none of it stays in the log as pending: whoever
      // retries (the escalation tick) records it again. Best effort: the store may be what failed.
      await Notification.deleteMany({ _id: { $in: prepared.map((p) => p.doc._id) } }).catch(() => undefined);
      throw error;
    });
    for (const { delivery } of prepared) {
      if (!delivery) continue;
      if (delivery.notifier.immediate) await deliverNow(delivery.id, delivery.notifier, delivery.delivery);
      else start(delivery.id, delivery.notifier, delivery.delivery);
    }
  }

  async function settled(): Promise<void> {
    while (inFlight.size) await Promise.allSettled([...inFlight]);
  }

  /** The one attempt of an immediate channel, recorded as delivered beforehand: corrected in the rare case it was not. */
  async function deliverNow(id: Types.ObjectId, notifier: Notifier, delivery: Omit<Delivery, 'attempt'>): Promise<void> {
    const { result, record } = await attemptOnce(notifier, delivery, 1);
    if (result.ok) return;
    await attempts.record(id, { $set: { attempts: [record], ...outcomeOf(result) } }).catch((error: unknown) => logger.error({ err: error, notificationId: String(id) }, 'could not record a failed notification'));
  }

  return {
    settings,

    sendMany,

    /** Records the notifications of one alert, then delivers them in the background. */
    send: (planned: PlannedNotification[], message: AlertMessage): Promise<void> => sendMany([{ planned, message }]),

    /**
     * Continues the delivery of a notification recorded earlier (resume.ts: one whose process stopped
     * before its last attempt) from attempt `fromAttempt`, in the background like any other, recorded
     * the same way and with the same outcome rules. False, and nothing started, when its channel has
     * no notifier here, no attempt is left (`fromAttempt` past maxAttempts) or this process is
     * attempting it already.
     */
    resume(id: Types.ObjectId, delivery: Omit<Delivery, 'attempt'>, fromAttempt: number): boolean {
      const notifier = byChannel.get(delivery.channel);
      if (!notifier || fromAttempt > settings.maxAttempts || attempting.has(String(id))) return false;
      start(id, notifier, delivery, Math.max(1, fromAttempt));
      return true;
    },

    /** Whether this process is making the attempts of that notification right now. */
    isAttempting: (id: Types.ObjectId | string): boolean => attempting.has(String(id)),

    /** Resolves when every delivery in flight has finished (all its attempts). */
    settled,

    /**
     * For shutdown: the attempts being made finish (and are recorded), at most `timeoutMs`; a
     * delivery waiting for its next attempt stops there and stays pending, for resume.ts to
     * continue. Waiting out a backoff of minutes would hold the shutdown for nothing.
     */
    async stop(timeoutMs: number): Promise<void> {
      stopping.abort();
      await settledWithin(settled(), timeoutMs);
    },
  };
}

export type AlertDelivery = ReturnType<typeof createDelivery>;
