/**
 * What a stored device event sets off — caregivers told, then the other features' listeners
 * (doses, alerts) — run once, by whoever holds the event's claim (event-claims.ts): the instance
 * that stored it, a resend's instance, or the recovery sweep. Then the event is marked processed.
 *
 * - A resend while the effects run here waits for them instead of running them again.
 * - Effects that fail release the claim, so that the device's resend runs them at once.
 * - Effects that run long keep their claim: it is extended every CLAIM_MS / 3 while they run, so
 *   another instance never takes it from a live run.
 * - The recovery sweep acts on events whose claim lapsed — their instance died, or their effects
 *   failed and the device never resent them — received within RECOVERY_WINDOW_MS, calls for help
 *   first, a few devices at a time (each device's events in order), until none is left or its
 *   time budget is spent. Older ones are given up, loudly: a day-old press is not paged as new.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../observability/logger.js';
import type { DeviceIdentity } from './directory.js';
import { CLAIM_MS, MAX_RECLAIMS, type EventClaims, type UnclaimedEvent } from './event-claims.js';
import type { DeviceEventDoc } from './models.js';
import type { DeviceRealtime } from './realtime.js';

export type EventListener = (device: DeviceIdentity, event: DeviceEventDoc) => void | Promise<void>;

/** Events received longer ago than this are given up by the recovery sweep instead of acted on. */
export const RECOVERY_WINDOW_MS = 24 * 60 * 60_000;
const RECOVERY_BATCH = 100;
/** One sweep's budget: well within the job's 30 s cadence. */
const RECOVERY_BUDGET_MS = 20_000;
const RECOVERY_DEVICES_AT_ONCE = 8;
const FIRST = 'help.requested';

interface Running {
  effects: Promise<void>;
  id: DeviceEventDoc['_id'];
  /** performance.now() when the effects started. */
  since: number;
}

interface Deps {
  claims: EventClaims;
  realtime: DeviceRealtime;
  markProcessed: (id: DeviceEventDoc['_id']) => Promise<unknown>;
  log: Logger;
  /** How often, and after how long, running effects extend their claim (real time; a third of the claim). */
  keepAliveMs?: number;
}

export function createEventEffects({ claims, realtime, markProcessed, log, keepAliveMs = CLAIM_MS / 3 }: Deps) {
  const listeners: EventListener[] = [];
  /** By `deviceId eventId`: effects running here, or whose processed mark is not yet written. */
  const running = new Map<string, Running>();
  const keyOf = (event: Pick<DeviceEventDoc, 'deviceId' | 'eventId'>): string => `${event.deviceId} ${event.eventId}`;

  const keepAlive = setInterval(() => void extendLongRuns(), keepAliveMs);
  keepAlive.unref();

  /** Claims of effects running for keepAliveMs or more, extended in one write. */
  async function extendLongRuns(): Promise<void> {
    const cutoff = performance.now() - keepAliveMs;
    const ids = [...running.values()].filter((run) => run.since <= cutoff).map((run) => run.id);
    if (!ids.length) return;
    await claims.extend(ids).catch((error: unknown) => log.warn({ err: error, events: ids.length }, 'could not extend the claims of events still being acted on'));
  }

  /**
   * Runs the effects under the caller's claim. On failure the claim is released (`release`, for a
   * device waiting on its ack: its resend runs them at once) or left to lapse (the sweep: one
   * attempt per sweep, not one per loop of it).
   */
  function run(event: DeviceEventDoc, { release = true } = {}): Promise<void> {
    const key = keyOf(event);
    // For whom the event was stamped when stored (write-batches.ts), on every path alike.
    const device = stampOf(event);
    const effects = (async () => {
      realtime.event(device, event);
      for (const listener of listeners) await listener(device, event);
    })();
    running.set(key, { effects, id: event._id, since: performance.now() });
    // Forgotten once the mark is written (or the effects failed: a resend then runs them again).
    void effects
      .then(
        () => markProcessed(event._id).catch((error: unknown) => log.warn({ err: error, eventId: event.eventId }, 'could not mark an event processed')),
        () => failed(event, release), // the caller reports the failure
      )
      .finally(() => {
        if (running.get(key)?.effects === effects) running.delete(key);
      });
    return effects;
  }

  async function failed(event: DeviceEventDoc, release: boolean): Promise<void> {
    if ((event.reclaims ?? 0) >= MAX_RECLAIMS) {
      log.error({ eventId: event.eventId, deviceId: event.deviceId, type: event.type, claims: event.reclaims }, 'gave up acting on a stored device event: its effects failed every time');
    }
    if (release) await claims.release(event._id).catch((error: unknown) => log.warn({ err: error, eventId: event.eventId }, 'could not release the claim on an event (it lapses)'));
  }

  /** One device's recovered events, in the order received; true for each acted on. */
  async function recoverDevice(events: UnclaimedEvent[]): Promise<number> {
    let recovered = 0;
    for (const found of events) {
      if (running.has(keyOf(found))) continue;
      const event = await claims.claimById(found._id);
      if (!event) continue;
      try {
        await run(event, { release: false });
        recovered += 1;
      } catch (error) {
        log.warn({ err: error, eventId: event.eventId, deviceId: event.deviceId }, 'could not act on a stored device event; the sweep tries again');
      }
    }
    return recovered;
  }

  /** The devices of a batch, a few at a time; how many events were acted on. */
  async function recoverBatch(events: UnclaimedEvent[]): Promise<number> {
    const byDevice = new Map<string, UnclaimedEvent[]>();
    for (const event of events) {
      const list = byDevice.get(event.deviceId);
      if (list) list.push(event);
      else byDevice.set(event.deviceId, [event]);
    }
    const queue = [...byDevice.values()];
    let recovered = 0;
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const acted = await recoverDevice(next); // not `recovered += await …`: that reads `recovered` before the await
        recovered += acted;
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECOVERY_DEVICES_AT_ONCE, queue.length) }, worker));
    return recovered;
  }

  async function giveUp(events: UnclaimedEvent[]): Promise<void> {
    if (!events.length) return;
    for (const event of events) log.error({ eventId: event.eventId, deviceId: event.deviceId, type: event.type, receivedAt: event.receivedAt }, 'a stored device event was never acted on and is too old to act on now; giving it up');
    await claims.abandon(events.map((event) => event._id));
  }

  return {
    /** Other features (doses, alerts) react to stored events here. */
    onEvent(listener: EventListener): void {
      listeners.push(listener);
    },

    run,

    /**
     * A resend: its first arrival's effects, if they are still running here, or never ran and no
     * other instance holds them (one that does acts on it, or lapses and leaves it to the sweep).
     */
    async resend(deviceId: string, eventId: string): Promise<void> {
      const current = running.get(`${deviceId} ${eventId}`);
      if (current) return current.effects;
      const pending = await claims.claimResent(deviceId, eventId);
      if (pending) await run(pending);
    },

    /** The recovery sweep (see the header); returns how many events it acted on. */
    async recover(): Promise<number> {
      const started = performance.now();
      const outOfTime = (): boolean => performance.now() - started > RECOVERY_BUDGET_MS;
      let recovered = 0;
      // Calls for help first, then everything (the rest).
      for (const type of [FIRST, undefined]) {
        for (;;) {
          const { recent, stale } = await claims.unclaimedEvents(RECOVERY_BATCH, RECOVERY_WINDOW_MS, type);
          await giveUp(stale);
          const fresh = recent.filter((event) => !running.has(keyOf(event)));
          if (fresh.length) recovered += await recoverBatch(fresh);
          if (!fresh.length || recent.length + stale.length < RECOVERY_BATCH || outOfTime()) break;
        }
        if (outOfTime()) break;
      }
      if (recovered) log.info({ recovered }, 'acted on stored device events that had not been');
      return recovered;
    },

    close(): void {
      clearInterval(keepAlive);
    },
  };
}

export type EventEffects = ReturnType<typeof createEventEffects>;

/** Who an event is for, as it was stamped when stored: its effects follow that, even if the device has moved since. */
function stampOf(event: DeviceEventDoc): DeviceIdentity {
  return { _id: event.deviceId, organisationId: event.organisationId, patientId: event.patientId ?? null };
}
