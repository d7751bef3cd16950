/**
 * Who a device is, as its events need it: its organisation, its patient, and that it is enabled.
 * Kept in memory so that a batch of events does not read its devices again — with a fleet
 * sending a few events each, that read was one of three store round trips per batch.
 *
 * An entry is dropped when the device changes (`forget`: the devices service calls it, and the
 * other hub instances hear of the change through `toPeers`), and is never used more than
 * ENTRY_TTL_MS after it was read, so a peer message lost with a Redis hiccup heals within seconds
 * (a disabled device's next message is then refused and its session ended, see the MQTT
 * transport). A read that overlaps a change is answered but not kept: it may hold the device as
 * it was.
 *
 * Reads are gathered: every lookup that misses in the same turn of the event loop shares one
 * find (a fleet's first events, or entries read together and expiring together, were one find
 * per batch of a few events). And a device that keeps sending has its entry read again in the
 * background once it is half its age limit old, so its events do not wait for a read when the
 * entry expires.
 */
import type { Model } from 'mongoose';
import type { DeviceDoc } from './models.js';
import { burstLoader } from '../burst-loader.js';

export type DeviceIdentity = Pick<DeviceDoc, '_id' | 'organisationId' | 'patientId' | 'patientAssignedAt'>;

export interface DirectoryEntry {
  identity: DeviceIdentity;
  /** When the store last heard the device was seen, as far as this instance knows (ms). */
  seenAt: number;
  /** When it was read; it is read again from half its age limit on, and not used past it. */
  readAt: number;
}

/** Also how long a device moved or disabled on another instance may be stamped as before, should that instance's message be lost. */
const ENTRY_TTL_MS = 15_000;

export function createDeviceDirectory(Device: Model<DeviceDoc>, ttlMs = ENTRY_TTL_MS) {
  const entries = new Map<string, DirectoryEntry>();
  const refreshing = new Set<string>();
  let changes = 0;
  let nextPruneAt = 0;

  /** Drops expired entries now and then, so devices that went quiet do not stay in memory. */
  function prune(now: number): void {
    if (now < nextPruneAt) return;
    nextPruneAt = now + ttlMs;
    for (const [id, entry] of entries) if (now - entry.readAt >= ttlMs) entries.delete(id);
  }

  /** One find for every id asked for in this turn of the event loop (500 at most). */
  const reads = burstLoader<string, DirectoryEntry | null>(
    async (ids) => {
      const before = changes;
      const readAt = Date.now();
      const devices = await Device.find({ _id: { $in: [...ids] }, disabled: false }, { organisationId: 1, patientId: 1, patientAssignedAt: 1, 'status.lastSeenAt': 1 }).lean<DeviceDoc[]>();
      const byId = new Map(devices.map((device) => [device._id, device]));
      const keep = changes === before;
      return ids.map((id) => {
        const device = byId.get(id);
        // Gone or disabled: a background read must not leave the old entry in use.
        if (!device) {
          if (keep) entries.delete(id);
          return null;
        }
        const seenAt = Math.max(device.status?.lastSeenAt?.getTime() ?? 0, entries.get(id)?.seenAt ?? 0);
        const entry = { identity: { _id: device._id, organisationId: device.organisationId, patientId: device.patientId ?? null, patientAssignedAt: device.patientAssignedAt ?? null }, seenAt, readAt };
        if (keep) entries.set(id, entry);
        return entry;
      });
    },
  );

  function refreshInBackground(id: string): void {
    if (refreshing.has(id)) return;
    refreshing.add(id);
    // Its failure is the next lookup's business: the entry simply ages until it must be read.
    reads.load(id).then(
      () => refreshing.delete(id),
      () => refreshing.delete(id),
    );
  }

  return {
    /** The enabled devices among `ids` (unknown and disabled ones are absent). */
    async lookup(ids: readonly string[]): Promise<Map<string, DirectoryEntry>> {
      const now = Date.now();
      prune(now);
      const unique = [...new Set(ids)];
      const found = new Map<string, DirectoryEntry>();
      const aging: string[] = [];
      for (const id of unique) {
        const entry = entries.get(id);
        if (!entry || now - entry.readAt >= ttlMs) break;
        found.set(id, entry);
        if (now - entry.readAt >= ttlMs / 2) aging.push(id);
      }
      if (found.size === unique.length) {
        for (const id of aging) refreshInBackground(id);
        return found;
      }
      // A device is missing, so the lookup waits for a read; the entries found would be older
      // when answered, so every device is read in that same find (for nothing extra) — which
      // also refreshes the aging ones — and the answer is the read's.
      const read = await Promise.all(unique.map((id) => reads.load(id)));
      return new Map(read.filter((entry) => entry !== null).map((entry) => [entry.identity._id, entry]));
    },

    /** The device changed (patient, disabled…): the next lookup reads it again. */
    forget(deviceId: string): void {
      changes += 1;
      entries.delete(deviceId);
    },

    get size(): number {
      return entries.size;
    },
  };
}

export type DeviceDirectory = ReturnType<typeof createDeviceDirectory>;
