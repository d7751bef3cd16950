/**
 * Snapshots: the whole state as replayable operations, written to a temporary file, synced,
 * then renamed over `snapshot.bson` (rename is atomic, so a crash leaves the old or the new
 * snapshot, never a mix). The header names the last journal generation it covers.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { JournalOp } from '../engine/journal-ops.js';
import { decodeRecords, encodeRecord } from './records.js';

export const SNAPSHOT_FILE = 'snapshot.bson';
const OPS_PER_RECORD = 1000;

export interface SnapshotContents {
  coversGeneration: number;
  ops: JournalOp[];
  /** The snapshot file's size: compaction waits until the journal has grown as large. */
  bytes: number;
}

export async function readSnapshot(dataDir: string): Promise<SnapshotContents | undefined> {
  let buffer: Buffer;
  try {
    buffer = await readFile(join(dataDir, SNAPSHOT_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const { records } = decodeRecords(buffer);
  const header = records[0];
  const trailer = records[records.length - 1];
  if (header?.snapshot !== 1 || trailer?.end !== true) {
    // Never silently start from a damaged snapshot: the journals it replaced are gone.
    throw new Error(`snapshot ${join(dataDir, SNAPSHOT_FILE)} is damaged; refusing to start`);
  }
  const ops = records.slice(1, -1).flatMap((record) => record.ops as JournalOp[]);
  return { coversGeneration: Number(header.generation), ops, bytes: buffer.length };
}

/** Makes the directory's entries (a new or renamed file) durable. */
export async function syncDirectory(dataDir: string): Promise<void> {
  const handle = await open(dataDir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes in slices, yielding between them so that a large snapshot does not stall requests.
 * Answers the snapshot's size in bytes.
 */
export async function writeSnapshot(dataDir: string, coversGeneration: number, ops: JournalOp[]): Promise<number> {
  const temporary = join(dataDir, `${SNAPSHOT_FILE}.tmp`);
  const handle = await open(temporary, 'w');
  let bytes = 0;
  const write = async (record: Record<string, unknown>): Promise<void> => {
    bytes += (await handle.write(encodeRecord(record))).bytesWritten;
  };
  try {
    await write({ snapshot: 1, generation: coversGeneration, createdAt: new Date() });
    for (let start = 0; start < ops.length; start += OPS_PER_RECORD) {
      await write({ ops: ops.slice(start, start + OPS_PER_RECORD) });
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await write({ end: true, count: ops.length });
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, join(dataDir, SNAPSHOT_FILE));
  await syncDirectory(dataDir);
  return bytes;
}
