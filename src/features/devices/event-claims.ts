/**
 * Who runs a stored event's effects (caregivers told, doses and alerts), across hub instances
 * and crashes. An event is stored unprocessed, claimed by the instance that stored it for
 * CLAIM_MS from its `receivedAt`; the claim is released at once if its effects fail. Whoever finds the event
 * unprocessed with no valid claim — the device resending it, or the recovery sweep for a device
 * that never does (it lost its outbox, or was unplugged) — takes the claim in one atomic update
 * and runs them. So effects run once however many instances hear the event, and an instance
 * that died between storing an event and acting on it delays those effects by about a minute
 * (the claim, then the sweep's cadence), never loses them. Effects that run long keep extending
 * their claim (event-effects.ts).
 */
import type { Collection, Document, Filter } from 'mongodb';
import type { Model } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import type { DeviceEventDoc } from './models.js';

/** Longer than effects take under load (seconds at saturation), short enough to recover soon. */
export const CLAIM_MS = 30_000;
/** Claims taken after the first before the sweep gives an event up (and says so): ~10 minutes of sweeps. */
export const MAX_RECLAIMS = 20;

export type UnclaimedEvent = Pick<DeviceEventDoc, '_id' | 'deviceId' | 'eventId' | 'type' | 'receivedAt'>;

/** Raw collection: the filters below are the store's, mongoose's casting adds nothing to them. */
type Raw = Document;

export function createEventClaims(DeviceEvent: Model<DeviceEventDoc>, clock: Clock) {
  const events = DeviceEvent.collection as unknown as Collection<Raw>;
  const claimUntil = (): Date => new Date(clock.now().getTime() + CLAIM_MS);
  /**
   * Unprocessed, and nobody's claim still valid. An event is stored without `claimedUntil` (a field
   * less to write per event): its storing instance's claim runs until `receivedAt + CLAIM_MS`.
   */
  const unclaimed = (): Filter<Raw> => {
    const now = clock.now();
    return {
      processed: false,
      reclaims: { $not: { $gte: MAX_RECLAIMS } },
      $or: [{ claimedUntil: { $lte: now } }, { claimedUntil: null, receivedAt: { $lte: new Date(now.getTime() - CLAIM_MS) } }],
    };
  };

  async function claim(filter: Filter<Raw>): Promise<DeviceEventDoc | null> {
    const taken = await events.findOneAndUpdate({ ...filter, ...unclaimed() }, { $set: { claimedUntil: claimUntil() }, $inc: { reclaims: 1 } }, { returnDocument: 'after' });
    return taken as DeviceEventDoc | null;
  }

  return {
    /** A resend's event, claimed when unprocessed and free; null when processed, or another claim holds it. */
    claimResent: (deviceId: string, eventId: string): Promise<DeviceEventDoc | null> => claim({ deviceId, eventId }),

    /** Claims one event the sweep found; null when someone else took it meanwhile. */
    claimById: (id: DeviceEventDoc['_id']): Promise<DeviceEventDoc | null> => claim({ _id: id }),

    /**
     * Unprocessed events free to claim (of one type, if given), oldest first (served by the
     * `{processed}` partial index): those received within `windowMs`, and those older (`stale`).
     */
    async unclaimedEvents(limit: number, windowMs: number, type?: string): Promise<{ recent: UnclaimedEvent[]; stale: UnclaimedEvent[] }> {
      const found = (await events.find({ ...unclaimed(), ...(type === undefined ? {} : { type }) }, { projection: { deviceId: 1, eventId: 1, type: 1, receivedAt: 1 } }).sort({ receivedAt: 1 }).limit(limit).toArray()) as UnclaimedEvent[];
      const since = clock.now().getTime() - windowMs;
      return { recent: found.filter((e) => e.receivedAt.getTime() >= since), stale: found.filter((e) => e.receivedAt.getTime() < since) };
    },

    /** Claims of events whose effects still run, extended from now (only while unprocessed). */
    async extend(ids: Array<DeviceEventDoc['_id']>): Promise<void> {
      await events.updateMany({ _id: { $in: ids }, processed: false }, { $set: { claimedUntil: claimUntil() } });
    },

    /** Events the sweep gives up: never claimable again (they stay unprocessed, for the record). */
    async abandon(ids: Array<DeviceEventDoc['_id']>): Promise<void> {
      await events.updateMany({ _id: { $in: ids }, processed: false }, { $set: { reclaims: MAX_RECLAIMS } });
    },

    /** Effects failed: the next resend (or sweep) may run them at once. Best effort — the claim lapses anyway. */
    async release(id: DeviceEventDoc['_id']): Promise<void> {
      await events.updateOne({ _id: id, processed: false }, { $set: { claimedUntil: clock.now() } });
    },
  };
}

export type EventClaims = ReturnType<typeof createEventClaims>;
