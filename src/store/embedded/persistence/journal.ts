/**
 * Append-only journal with group commit.
 *
 * Records appended during one event-loop turn are written together (a synchronous write into
 * the page cache: microseconds) and then made durable by one `fdatasync` that acknowledges all
 * of them. Up to MAX_SYNCS_IN_FLIGHT syncs may run at once, so a batch never waits for the
 * previous batch's sync to finish: a sync started after a write completed makes that write
 * durable (POSIX fdatasync), whatever other syncs are doing. Batches arriving while the limit
 * is reached join the next sync.
 *
 * A journal opened by compaction follows the previous generation: nothing in it is acknowledged
 * before everything written to the previous file is durable (and the new file's directory entry
 * too). Its own fdatasync says nothing about the other file, and a write here may build on one
 * there (a patch of a document inserted just before the switch): acknowledged alone, it could
 * survive a power cut without the write it depends on.
 */
import { closeSync, fdatasync, fstatSync, openSync, writeSync } from 'node:fs';
import type { JournalOp } from '../engine/journal-ops.js';
import { RecordBatch } from './record-batch.js';

const MAX_SYNCS_IN_FLIGHT = 2;
const SETTLED: Promise<void> = Promise.resolve();

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal {
  readonly path: string;
  readonly generation: number;
  private readonly fd: number;
  /** Encoded but not yet written. */
  private readonly pending = new RecordBatch();
  private pendingWaiters: Waiter[] = [];
  /** Written to the page cache, waiting for a sync slot. */
  private writtenWaiters: Waiter[] = [];
  private writeScheduled = false;
  private syncsInFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private failure: Error | undefined;
  private bytes: number;
  /** The latest append's durability: every earlier append is durable once it is. */
  private lastAppend: Promise<void> = SETTLED;
  /** Resolves once everything before this journal is durable; cleared then (see the header). */
  private predecessor: Promise<void> | undefined;

  private constructor(path: string, generation: number, fd: number) {
    this.path = path;
    this.generation = generation;
    this.fd = fd;
    this.bytes = fstatSync(fd).size;
  }

  /**
   * Opens (creating it if need be) the journal file. `predecessor`, called once the file exists:
   * what must be durable before anything written here is acknowledged; when it fails, so does
   * this journal.
   */
  static open(path: string, generation: number, predecessor?: () => Promise<void>): Journal {
    const journal = new Journal(path, generation, openSync(path, 'a'));
    if (predecessor !== undefined) journal.follow(predecessor());
    return journal;
  }

  /** Bytes written or queued; drives compaction. */
  get size(): number {
    return this.bytes;
  }

  /** Journals `ops` as one record; resolves once it is on disk. */
  append(ops: readonly JournalOp[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    try {
      this.bytes += this.pending.append(ops);
    } catch (error) {
      // The command already changed memory: without its record, later records (patches) would
      // replay against another state. Refuse every further write, as after a failed write.
      this.fail(error, []);
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const durable = new Promise<void>((resolve, reject) => this.pendingWaiters.push({ resolve, reject }));
    this.lastAppend = durable;
    if (!this.writeScheduled) {
      this.writeScheduled = true;
      // Yield once so that every write arriving in this turn joins the batch.
      setImmediate(() => this.writePending());
    }
    return durable;
  }

  /**
   * Resolves once everything appended so far — here and in earlier generations — is durable;
   * at once when nothing is pending. For a reply that journals nothing but may depend on
   * another client's write that is applied in memory and still waiting for its sync.
   */
  barrier(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (!this.isIdle()) return this.lastAppend;
    return this.predecessor ?? SETTLED;
  }

  /** Waits until everything appended so far is durable (or failed). */
  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
    closeSync(this.fd);
  }

  private isIdle(): boolean {
    return !this.writeScheduled && this.syncsInFlight === 0 && this.writtenWaiters.length === 0;
  }

  private writePending(): void {
    this.writeScheduled = false;
    const waiters = this.pendingWaiters;
    this.pendingWaiters = [];
    if (this.pending.length === 0) return this.notifyIfIdle();
    try {
      const data = this.pending.contents();
      let offset = 0;
      while (offset < data.length) offset += writeSync(this.fd, data, offset, data.length - offset);
    } catch (error) {
      return this.fail(error, waiters);
    } finally {
      // The write was synchronous, so the buffer can take the next batch at once.
      this.pending.clear();
    }
    this.writtenWaiters.push(...waiters);
    this.startSyncIfPossible();
  }

  private startSyncIfPossible(): void {
    if (this.writtenWaiters.length === 0 || this.syncsInFlight >= MAX_SYNCS_IN_FLIGHT) return;
    // This sync starts after every write in writtenWaiters completed, so it covers them all.
    const covered = this.writtenWaiters;
    this.writtenWaiters = [];
    this.syncsInFlight += 1;
    fdatasync(this.fd, (error) => {
      const predecessor = this.predecessor;
      if (error !== null || predecessor === undefined) return this.finishSync(covered, error ?? undefined);
      // The slot stays taken meanwhile: batches written in the meantime join the next sync.
      predecessor.then(
        () => this.finishSync(covered, undefined),
        (failure: unknown) => this.finishSync(covered, failure),
      );
    });
  }

  private finishSync(covered: Waiter[], error: unknown): void {
    this.syncsInFlight -= 1;
    // After another sync failed, an earlier batch may be missing from the file: a later sync
    // must not acknowledge writes that recovery would cut off with it.
    if (error !== undefined || this.failure !== undefined) return this.fail(error ?? this.failure, covered);
    for (const waiter of covered) waiter.resolve();
    this.startSyncIfPossible();
    this.notifyIfIdle();
  }

  private follow(predecessor: Promise<void>): void {
    this.predecessor = predecessor;
    predecessor.then(
      () => {
        // From now on a sync acknowledges at once, with no promise in between.
        if (this.predecessor === predecessor) this.predecessor = undefined;
      },
      // Writes here may build on the ones that failed there: refuse them too.
      (error: unknown) => this.fail(error, []),
    );
  }

  /** Like mongod, a failed journal write is fatal for durability: refuse further writes. */
  private fail(error: unknown, waiters: Waiter[]): void {
    this.failure = error instanceof Error ? error : new Error(String(error));
    for (const waiter of [...waiters, ...this.writtenWaiters, ...this.pendingWaiters]) waiter.reject(this.failure);
    this.writtenWaiters = [];
    this.pendingWaiters = [];
    this.pending.clear();
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
