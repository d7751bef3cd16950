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
import { readSnapshot, writeSnapshot } from './snapshot.js';

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

  /** Locks the directory and replays snapshot then journals through `apply`. */
  static async open(options: PersistenceOptions, apply: (op: JournalOp) => void): Promise<Persistence> {
    const { dataDir, logger } = options;
    await mkdir(dataDir, { recursive: true });
    const lock = await DataDirectoryLock.acquire(dataDir);
    try {
      const snapshot = await readSnapshot(dataDir);
      const covered = snapshot?.coversGeneration ?? 0;
      for (const op of snapshot?.ops ?? []) apply(op);
      let replayed = 0;
      let lastGeneration = covered;
      for (const generation of await journalGenerations(dataDir)) {
        const path = join(dataDir, journalName(generation));
        if (generation <= covered) {
          // Left over from a compaction interrupted after the snapshot was renamed into place.
          await unlink(path);
          continue;
        }
        const buffer = await readFile(path);
        const { records, validLength } = decodeRecords(buffer);
        if (validLength < buffer.length) {
          logger.warn({ path, validLength, fileLength: buffer.length }, 'truncating torn journal tail');
          await truncate(path, validLength);
        }
        for (const record of records) for (const op of record.ops as JournalOp[]) apply(op);
        replayed += records.length;
        lastGeneration = generation;
      }
      const journal = await Journal.open(join(dataDir, journalName(Math.max(lastGeneration, covered + 1))), Math.max(lastGeneration, covered + 1));
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
    const previous = this.journal;
    const next = await Journal.open(join(this.options.dataDir, journalName(previous.generation + 1)), previous.generation + 1);
    this.journal = next;
    const ops = capture();
    await previous.close();
    this.snapshotBytes = await writeSnapshot(this.options.dataDir, previous.generation, ops);
    for (const generation of await journalGenerations(this.options.dataDir)) {
      if (generation <= previous.generation) await unlink(join(this.options.dataDir, journalName(generation)));
    }
  }
}
