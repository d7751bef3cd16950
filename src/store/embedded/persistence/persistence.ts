/**
 * The on-disk side of the store: lock file, snapshot + journal replay on start, group-commit
 * appends, and compaction (new journal generation, snapshot of the state, old journals removed).
 */
import { mkdir, readdir, truncate, unlink } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JournalOp } from '../engine/journal-ops.js';
import type { StoreLogger } from '../logger.js';
import { Journal } from './journal.js';
import { DataDirectoryLock } from './lock-file.js';
import { decodeRecords } from './records.js';
import { readSnapshot, syncDirectory, writeSnapshot } from './snapshot.js';

const JOURNAL_PATTERN = /^journal-(\d+)\.log$/;

function journalName(generation: number): string {
  return `journal-${String(generation).padStart(8, '0')}.log`;
}

async function journalGenerations(dataDir: string): Promise<number[]> {
  const names = await readdir(dataDir);
  return names
    .map((name) => JOURNAL_PATTERN.exec(name)?.[1])
    .filter((generation): generation is string => generation !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

interface ReplayResult {
  replayed: number;
  lastGeneration: number;
}

/**
 * Replays the journals after the snapshot's generation. Nothing in a generation is acknowledged
 * before the previous one is wholly durable (journal.ts), so when a record of a later
 * generation builds on a write recovery does not have, the previous generation lost writes in a
 * crash and nothing from that record on was ever acknowledged: replay stops there, cuts the
 * journal at that record and removes later generations (appends must not land after records
 * that would stop every later recovery). In the first generation such a record means damage,
 * not a crash: recovery refuses to start, as `apply` does.
 */
async function replayJournals(
  { dataDir, logger }: PersistenceOptions,
  covered: number,
  apply: (op: JournalOp) => void,
  dependsOnLostWrite: (ops: JournalOp[]) => boolean,
): Promise<ReplayResult> {
  let replayed = 0;
  let lastGeneration = covered;
  let cutAt: number | undefined;
  for (const generation of await journalGenerations(dataDir)) {
    const path = join(dataDir, journalName(generation));
    if (generation <= covered || cutAt !== undefined) {
      // Covered: left over from a compaction interrupted after the snapshot was renamed into place.
      await unlink(path);
      continue;
    }
    const buffer = await readFile(path);
    const { records, validLength, ends } = decodeRecords(buffer);
    if (validLength < buffer.length) {
      logger.warn({ path, validLength, fileLength: buffer.length }, 'truncating torn journal tail');
      await truncate(path, validLength);
    }
    const laterGeneration = lastGeneration > covered;
    for (let index = 0; index < records.length && cutAt === undefined; index++) {
      const ops = (records[index] as { ops: JournalOp[] }).ops;
      if (laterGeneration && dependsOnLostWrite(ops)) {
        cutAt = index === 0 ? 0 : (ends[index - 1] as number);
        logger.warn({ path, offset: cutAt, droppedRecords: records.length - index }, 'journal replay stopped at a record that builds on a write lost in a crash (never acknowledged)');
        await truncate(path, cutAt);
        break;
      }
      for (const op of ops) apply(op);
      replayed += 1;
    }
    lastGeneration = generation;
  }
  return { replayed, lastGeneration };
}

export interface PersistenceOptions {
  dataDir: string;
  logger: StoreLogger;
  /**
   * Compact once the active journal grows past this many bytes — and past the size of the last
   * snapshot, so that rewriting the whole state costs at most as much disk and CPU as the
   * writes that made the journal (Redis's auto-aof-rewrite-percentage 100). A fixed threshold
   * alone rewrote a large data set after every few seconds of heavy writing.
   */
  compactAfterBytes: number;
}

export class Persistence {
  private journal: Journal;
  private compaction: Promise<void> | undefined;
  private snapshotBytes: number;

  private constructor(
    private readonly options: PersistenceOptions,
    private readonly lock: DataDirectoryLock,
    journal: Journal,
    snapshotBytes: number,
  ) {
    this.journal = journal;
    this.snapshotBytes = snapshotBytes;
  }

  /**
   * Locks the directory and replays snapshot then journals through `apply`. `dependsOnLostWrite`
   * tells a record that builds on a document recovery does not have (see `replayJournals`).
   */
  static async open(options: PersistenceOptions, apply: (op: JournalOp) => void, dependsOnLostWrite: (ops: JournalOp[]) => boolean = () => false): Promise<Persistence> {
    const { dataDir, logger } = options;
    await mkdir(dataDir, { recursive: true });
    const lock = await DataDirectoryLock.acquire(dataDir);
    try {
      const snapshot = await readSnapshot(dataDir);
      const covered = snapshot?.coversGeneration ?? 0;
      for (const op of snapshot?.ops ?? []) apply(op);
      const { replayed, lastGeneration } = await replayJournals(options, covered, apply, dependsOnLostWrite);
      const generation = Math.max(lastGeneration, covered + 1);
      const journal = Journal.open(join(dataDir, journalName(generation)), generation);
      // The file may be new: its directory entry must be durable before anything in it is.
      await syncDirectory(dataDir);
      logger.info({ dataDir, snapshotOps: snapshot?.ops.length ?? 0, journalRecords: replayed }, 'embedded store recovered');
      return new Persistence(options, lock, journal, snapshot?.bytes ?? 0);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  append(ops: JournalOp[]): Promise<void> {
    return this.journal.append(ops);
  }

  /** Resolves once everything appended so far is durable; at once when nothing is pending. */
  barrier(): Promise<void> {
    return this.journal.barrier();
  }

  get shouldCompact(): boolean {
    return this.compaction === undefined && this.journal.size > Math.max(this.options.compactAfterBytes, this.snapshotBytes);
  }

  /**
   * Switches to a new journal generation, then snapshots `capture()` — called synchronously
   * right after the switch, so the snapshot holds exactly the writes of older generations.
   */
  compact(capture: () => JournalOp[]): Promise<void> {
    this.compaction ??= this.runCompaction(capture).finally(() => {
      this.compaction = undefined;
    });
    return this.compaction;
  }

  async close(capture: () => JournalOp[]): Promise<void> {
    await this.compaction;
    await this.compact(capture);
    await this.journal.close();
    await this.lock.release();
  }

  private async runCompaction(capture: () => JournalOp[]): Promise<void> {
    const { dataDir } = this.options;
    const previous = this.journal;
    const generation = previous.generation + 1;
    // The previous journal's barrier is taken in the same turn as the switch, so it covers
    // every append made there; the directory is synced once the new file exists.
    const next = Journal.open(join(dataDir, journalName(generation)), generation, async () => {
      await Promise.all([previous.barrier(), syncDirectory(dataDir)]);
    });
    this.journal = next;
    const ops = capture();
    await previous.close();
    this.snapshotBytes = await writeSnapshot(dataDir, previous.generation, ops);
    for (const old of await journalGenerations(dataDir)) {
      if (old <= previous.generation) await unlink(join(dataDir, journalName(old)));
    }
  }
}
