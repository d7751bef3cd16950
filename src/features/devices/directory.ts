/**
 * Who a device is, as its events need it: its organisation, its patient, and that it is enabled.
 * Kept in memory so that a batch of events does not read its devices again — with a fleet
 * sending a few events each, that read was one of three store round trips per batch.
 *
 * An entry is dropped when the device changes (`forget`: the devices service calls it, and the
 * other hub instances hear of the change through `toPeers`), and expires after ENTRY_TTL_MS in
 * any case, so a peer message lost with a Redis hiccup heals within seconds (a disabled device's
 * next message is then refused and its session ended, see the MQTT transport). A read that
 * overlaps a change is answered but not kept: it may hold the device as it was.
 */
import type { Model } from 'mongoose';
import type { DeviceDoc } from './models.js';

export type DeviceIdentity = Pick<DeviceDoc, '_id' | 'organisationId' | 'patientId'>;

export interface DirectoryEntry {
  identity: DeviceIdentity;
  /** When the store last heard the device was seen, as far as this instance knows (ms). */
  seenAt: number;
  expiresAt: number;
}

/** Also how long a device moved or disabled on another instance may be stamped as before, should that instance's message be lost. */
const ENTRY_TTL_MS = 15_000;

export function createDeviceDirectory(Device: Model<DeviceDoc>, ttlMs = ENTRY_TTL_MS) {
  const entries = new Map<string, DirectoryEntry>();
  let changes = 0;
  let nextPruneAt = 0;

  /** Drops expired entries now and then, so devices that went quiet do not stay in memory. */
  function prune(now: number): void {
    if (now < nextPruneAt) return;
    nextPruneAt = now + ttlMs;
    for (const [id, entry] of entries) if (entry.expiresAt <= now) entries.delete(id);
  }

  async function read(ids: string[], now: number): Promise<DirectoryEntry[]> {
    const before = changes;
    const devices = await Device.find({ _id: { $in: ids }, disabled: false }, { organisationId: 1, patientId: 1, 'status.lastSeenAt': 1 }).lean<DeviceDoc[]>();
    const read = devices.map((device) => ({
      identity: { _id: device._id, organisationId: device.organisationId, patientId: device.patientId ?? null },
      seenAt: device.status?.lastSeenAt?.getTime() ?? 0,
      expiresAt: now + ttlMs,
    }));
    if (changes === before) for (const entry of read) entries.set(entry.identity._id, entry);
    return read;
  }

  return {
    /** The enabled devices among `ids` (unknown and disabled ones are absent). */
    async lookup(ids: readonly string[]): Promise<Map<string, DirectoryEntry>> {
      const now = Date.now();
      prune(now);
      const found = new Map<string, DirectoryEntry>();
      const missing: string[] = [];
      for (const id of new Set(ids)) {
        const entry = entries.get(id);
        if (entry && entry.expiresAt > now) found.set(id, entry);
        else missing.push(id);
      }
      if (missing.length) for (const entry of await read(missing, now)) found.set(entry.identity._id, entry);
      return found;
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
