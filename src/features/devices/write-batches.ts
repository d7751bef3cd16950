/**
 * Device messages are written in batches. Every heartbeat or event that
 * arrives while the event loop handles one burst of socket reads is gathered
 * (DataLoader, flushed on setImmediate) and written with a constant number of
 * store round trips per batch — one insertMany for events (their devices come
 * from the directory, and are marked seen at most every few seconds); one read
 * of the devices, one insertMany and one update for heartbeats — instead of
 * two or three per message. Heartbeats queue at most one per device, at a
 * pace that slows down while the hub is saturated (heartbeat-queue.ts). With thousands of devices the
 * per-message driver, wire and journal costs were what bounded ingest; a lone
 * message still goes out at once, in a batch of one.
 *
 * Each caller still gets its own answer, and only once its write is durable:
 * the MQTT transport sends the PUBACK after that, as before.
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection, type Filter } from 'mongodb';
import { Types } from 'mongoose';
import { AppError } from '../../errors.js';
import { burstLoader } from '../burst-loader.js';
import { deferredBatch } from '../deferred-batch.js';
import type { DeviceDirectory, DeviceIdentity, DirectoryEntry } from './directory.js';
import { createLatestQueue, type PaceBounds } from './heartbeat-queue.js';
import type { DeviceDoc, DeviceEventDoc, DeviceModels } from './models.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

// The schedule's version and date come along: heartbeats compare them with the version the device reports.
const DEVICE_FIELDS = { secretHash: 0, 'schedule.payload': 0 } as const;
/**
 * An event marks its device as seen only when its `lastSeenAt` (as last read or written by this
 * instance) is at least this old: a device sending several events a second would otherwise cost
 * a device update per batch, and the silent-device timeout (30 s at least) does not need more
 * precision. Heartbeats set it exactly.
 */
const SEEN_PRECISION_MS = 5000;
/**
 * How long a processed mark waits for company. Should the hub die meanwhile, those events' effects
 * run again from the recovery sweep (as they would for a crash between effects and the mark).
 */
const PROCESSED_DELAY_MS = 250;
/** The store applies one update command in one go: 1,250 marks at once (250 ms at 5,000 events/s) held the event loop (runs AO in docs/benchmarks/ingest.md). */
const PROCESSED_MAX_BATCH = 250;
/**
 * Heartbeats per write of a flush. A flush gathers up to 5 s of a fleet's heartbeats while the
 * hub is busy (heartbeat-queue.ts); the store applies each bulk update in one go, and 500
 * statements held the event loop for 70–134 ms every 5 s, QoS 1 events waiting behind them
 * (runs AR in docs/benchmarks/ingest.md).
 */
const HEARTBEAT_MAX_BATCH = 100;

export interface EventWrite {
  deviceId: string;
  doc: Omit<DeviceEventDoc, '_id' | 'organisationId' | 'patientId'>;
  now: Date;
}
/** `device`: who sent it, as its events are stamped (organisation, patient). */
export type EventWritten = { device: DeviceIdentity; stored: DeviceEventDoc | null };

export interface HeartbeatWrite {
  deviceId: string;
  status: Record<string, unknown>;
  /** The history record, as stored (validated by the transport's schema). */
  doc: Record<string, unknown> & { deviceId: string; receivedAt: Date };
}

/** Whether a heartbeat goes into the history, given the device as the previous heartbeat left it. */
export type HistoryPolicy = (previous: DeviceDoc, write: HeartbeatWrite) => boolean;

export interface DeviceSet {
  filter: { _id: string } & Record<string, unknown>;
  set: Record<string, unknown>;
}

/** Raw collections: payloads are validated and typed before they get here, so mongoose's casting adds only cost. */
type RawDevice = { _id: string; disabled?: boolean; status?: Record<string, unknown> };
export type HeartbeatWritten = { device: DeviceDoc; previous: DeviceDoc };

const unknownDevice = (): AppError => new AppError('forbidden', 'Unknown or disabled device');

export interface HeartbeatPacing {
  /**
   * Pauses between heartbeat flushes: `minMs` is how long a heartbeat waits for company (a fleet's
   * heartbeats arrive spread out, one per read, and a batch of one costs three round trips).
   */
  pace: PaceBounds;
  onPause?: (ms: number) => void;
  /** Whether a device's newer heartbeat replaces one still waiting (not when the history must keep every one). */
  replaceWaiting: boolean;
}

export function createWriteBatches({ Device, DeviceEvent, Heartbeat }: DeviceModels, directory: DeviceDirectory, keepInHistory: HistoryPolicy, { pace, onPause, replaceWaiting }: HeartbeatPacing) {
  let sequence = 0;
  const rawDevices = Device.collection as unknown as Collection<RawDevice>;
  async function enabledDevices(ids: string[]): Promise<Map<string, DeviceDoc>> {
    const devices = await Device.find({ _id: { $in: [...new Set(ids)] }, disabled: false }, DEVICE_FIELDS).lean<DeviceDoc[]>();
    return new Map(devices.map((device) => [device._id, device]));
  }

  /** Inserts the events of a batch; a resend (same deviceId + eventId, E11000) answers null instead of failing. */
  async function insertEvents(docs: DeviceEventDoc[]): Promise<Array<DeviceEventDoc | null | Error>> {
    try {
      await DeviceEvent.collection.insertMany(docs, { ordered: false });
      return docs;
    } catch (error) {
      if (!(error instanceof MongoBulkWriteError)) throw error;
      const failed = new Map(error.writeErrors instanceof Array ? error.writeErrors.map((e) => [e.index, e]) : [[error.writeErrors.index, error.writeErrors]]);
      return docs.map((doc, index) => {
        const failure = failed.get(index);
        if (!failure) return doc;
        return isDuplicateKey(failure) ? null : new Error(failure.errmsg ?? 'event not stored');
      });
    }
  }

  const events = burstLoader<EventWrite, EventWritten>(async (writes) => {
    const devices = await directory.lookup(writes.map((w) => w.deviceId));
    const accepted = writes.filter((w) => devices.has(w.deviceId));
    const docs = accepted.map(({ deviceId, doc }) => {
      const { identity } = devices.get(deviceId) as DirectoryEntry;
      return { _id: new Types.ObjectId(), ...doc, organisationId: identity.organisationId, patientId: patientOfEvent(identity, doc), processed: false } as DeviceEventDoc;
    });
    // A resend is a sign of life too: every accepted message marks its device as seen.
    const seenAt = Math.max(...accepted.map((w) => w.now.getTime()));
    const unseen = [...new Set(accepted.filter(({ deviceId, now }) => now.getTime() - (devices.get(deviceId)?.seenAt ?? 0) >= SEEN_PRECISION_MS).map((w) => w.deviceId))];
    const [outcomes] = await Promise.all([
      docs.length ? insertEvents(docs) : [],
      // Best effort: a failure here must not fail events already stored (the next event marks the device seen).
      unseen.length ? markSeen(unseen, devices, seenAt).catch(() => undefined) : null,
    ]);
    const byWrite = new Map(accepted.map((write, index) => [write, outcomes[index]]));
    return writes.map((write) => {
      const entry = devices.get(write.deviceId);
      if (!entry) return unknownDevice();
      const outcome = byWrite.get(write);
      return outcome instanceof Error ? outcome : { device: entry.identity, stored: outcome ?? null };
    });
  });

  /**
   * Events whose effects have run (see the model's `processed`), written together every
   * PROCESSED_DELAY_MS: nobody waits on the mark (a resend meanwhile finds the effects in this
   * process's memory, and other instances' claims hold for 30 s), and per burst it cost as many
   * store round trips as storing the events did.
   */
  const processed = deferredBatch<Types.ObjectId>(async (ids) => {
    await DeviceEvent.collection.updateMany({ _id: { $in: ids } }, { $set: { processed: true } });
  }, { delayMs: PROCESSED_DELAY_MS, maxBatch: PROCESSED_MAX_BATCH });

  async function markSeen(deviceIds: string[], devices: Map<string, DirectoryEntry>, seenAt: number): Promise<void> {
    await rawDevices.updateMany({ _id: { $in: deviceIds } }, { $max: { 'status.lastSeenAt': new Date(seenAt) } });
    for (const id of deviceIds) {
      const entry = devices.get(id);
      if (entry) entry.seenAt = Math.max(entry.seenAt, seenAt);
    }
  }

  const heartbeats = createLatestQueue<HeartbeatWrite, HeartbeatWritten | null>(async (writes) => {
    const devices = await enabledDevices(writes.map((w) => w.deviceId));
    const updates: AnyBulkWriteOperation<RawDevice>[] = [];
    const history: Array<HeartbeatWrite['doc'] & { _id: Types.ObjectId }> = [];
    // The status each heartbeat leaves (the queue holds one per device).
    const results = writes.map((write): HeartbeatWritten | null | Error => {
      const previous = devices.get(write.deviceId);
      if (!previous) return unknownDevice();
      // The device went offline after this heartbeat arrived: that news is newer.
      if (wentOfflineSince(previous, write.doc.receivedAt)) return null;
      const kept = keepInHistory(previous, write);
      const status = kept ? { ...write.status, 'status.lastKept': lastKeptOf(write.doc) } : write.status;
      if (kept) history.push({ _id: new Types.ObjectId(), ...write.doc });
      // The same test in the store, for a device going offline between the read above and this write.
      const notOfflineSince = { $or: [{ 'status.online': { $ne: false } }, { 'status.changedAt': { $not: { $gt: write.doc.receivedAt } } }] };
      updates.push({ updateOne: { filter: { _id: write.deviceId, disabled: false, ...notOfflineSince }, update: { $set: status } } });
      const device = applyStatus(previous, status);
      devices.set(write.deviceId, device);
      return { device, previous };
    });
    // History first: the device's `status.lastKept` names the record kept, so it must not be
    // written for a record that failed (the next heartbeats would be left out of the history).
    if (history.length) await Heartbeat.collection.insertMany(history, { ordered: false });
    if (updates.length) await rawDevices.bulkWrite(updates, { ordered: true });
    return results;
  }, { keyOf: replaceWaiting ? (write) => write.deviceId : () => String(++sequence), pace, maxBatch: HEARTBEAT_MAX_BATCH, onPause });

  /** Plain `$set`s on devices (status announcements at connect), one bulkWrite per burst. */
  const deviceSets = burstLoader<DeviceSet, true>(async (sets) => {
    const updates: AnyBulkWriteOperation<RawDevice>[] = sets.map(({ filter, set }) => ({ updateOne: { filter: filter as Filter<RawDevice>, update: { $set: set } } }));
    await rawDevices.bulkWrite(updates, { ordered: true });
    return sets.map(() => true as const);
  });

  return {
    setOnDevice: (filter: DeviceSet['filter'], set: DeviceSet['set']): Promise<true> => deviceSets.load({ filter, set }),
    writeEvent: (write: EventWrite): Promise<EventWritten> => events.load(write),
    markProcessed: (eventId: Types.ObjectId): Promise<void> => processed.add(eventId),
    /** Writes the processed marks still waiting (the hub is closing). */
    flushProcessed: (): Promise<void> => processed.flush(),
    /** Null when newer news of the device took this one's place before it was written: a newer heartbeat, or a presence change. */
    writeHeartbeat: (write: HeartbeatWrite): Promise<HeartbeatWritten | null> => heartbeats.push(write),
    /** Drops the device's heartbeat still waiting to be written (it disconnected: its presence is newer news). */
    dropWaitingHeartbeat: (deviceId: string): void => heartbeats.drop(deviceId),
    /** Writes the waiting heartbeats now, and every later one at once. */
    closeHeartbeats: (): Promise<void> => heartbeats.close(),
  };
}

/** What the history policy compares the next heartbeats with. */
function lastKeptOf(doc: HeartbeatWrite['doc']): { at: Date; firmwareVersion: unknown; appliedScheduleVersion: unknown } {
  return { at: doc.receivedAt, firmwareVersion: doc.firmwareVersion, appliedScheduleVersion: doc.appliedScheduleVersion };
}

/**
 * Whether the device went offline after `at` (a heartbeat written late would call it online
 * again, unseen by presence listeners). Only offline: with the hub's clock stepped back, a
 * device online since "later" must still have its heartbeats written.
 */
function wentOfflineSince(device: DeviceDoc, at: Date): boolean {
  const changedAt = device.status?.changedAt;
  return device.status?.online === false && changedAt instanceof Date && changedAt.getTime() > at.getTime();
}

/** The device as it is after `$set` of dotted `status.*` paths. */
function applyStatus(device: DeviceDoc, set: Record<string, unknown>): DeviceDoc {
  const status: Record<string, unknown> = { ...device.status };
  for (const [path, value] of Object.entries(set)) status[path.slice('status.'.length)] = value;
  return { ...device, status } as DeviceDoc;
}

export type WriteBatches = ReturnType<typeof createWriteBatches>;

/**
 * The patient an event is stamped with (what its effects and its readers follow, even on a resend):
 * the device's — unless the event is dated before the device was given that patient, e.g. its outbox
 * of a previous patient sent after a move. Such an event is nobody's (staff still see it): it settles
 * none of the new patient's doses, takes none of their stock and pages none of their caregivers. A
 * dose event naming a dose by occurrenceId keeps the patient, whose dose it must then be (the doses
 * feature checks), so that a device clock running behind does not lose the new patient's doses.
 */
function patientOfEvent(identity: DeviceIdentity, doc: Pick<DeviceEventDoc, 'at' | 'payload'>): DeviceIdentity['patientId'] {
  const assignedAt = identity.patientAssignedAt;
  if (!assignedAt || doc.at.getTime() >= assignedAt.getTime()) return identity.patientId;
  return typeof (doc.payload as Record<string, unknown> | undefined)?.occurrenceId === 'string' ? identity.patientId : null;
}
