/**
 * Append-only journal with group commit. Records appended during one event-loop turn (and
 * while the previous fsync runs) are written together and made durable by a single
 * `datasync`; every waiting write is acknowledged at once.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { encodeRecord } from './records.js';
import type { Document } from 'bson';

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal {
  readonly path: string;
  readonly generation: number;
  private readonly handle: FileHandle;
  private pending: Buffer[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private bytes: number;

  private constructor(path: string, generation: number, handle: FileHandle, size: number) {
    this.path = path;
    this.generation = generation;
    this.handle = handle;
    this.bytes = size;
  }

  static async open(path: string, generation: number): Promise<Journal> {
    const handle = await open(path, 'a');
    const { size } = await handle.stat();
    return new Journal(path, generation, handle, size);
  }

  /** Bytes written or queued; drives compaction. */
  get size(): number {
    return this.bytes;
  }

  /** Resolves once the record is on disk. */
  append(payload: Document): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const frame = encodeRecord(payload);
    this.pending.push(frame);
    this.bytes += frame.length;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.flushing ??= this.flushLoop();
    return done;
  }

  /** Waits until everything appended so far is durable. */
  async drain(): Promise<void> {
    while (this.flushing !== undefined) await this.flushing;
  }

  async close(): Promise<void> {
    await this.drain();
    await this.handle.close();
  }

  private async flushLoop(): Promise<void> {
    // Yield once so that every write arriving in this turn joins the batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        const waiters = this.waiters;
        this.pending = [];
        this.waiters = [];
        try {
          await this.handle.write(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch));
          await this.handle.datasync();
        } catch (error) {
          // Like mongod, a failed journal write is fatal for durability: refuse further writes.
          this.failure = error instanceof Error ? error : new Error(String(error));
          for (const waiter of [...waiters, ...this.waiters]) waiter.reject(this.failure);
          this.waiters = [];
          this.pending = [];
          return;
        }
        for (const waiter of waiters) waiter.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
