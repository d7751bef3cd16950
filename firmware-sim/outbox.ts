/**
 * Messages that must reach the hub (events and command acks), kept until their
 * PUBACK arrives. It is bounded like a device's flash ring buffer: when full,
 * the oldest message not currently in flight is dropped and counted. With a
 * file it survives a restart of the simulator, so a resend after a crash
 * carries the same eventId.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface OutboxEntry {
  /** eventId for events, commandId for acks: the key the hub deduplicates on. */
  id: string;
  kind: 'event' | 'ack';
  /** The event type, or the ack status, for logs and the ack log. */
  label: string;
  topic: string;
  payload: string;
  /** Real time it was queued, epoch ms. */
  queuedAt: number;
  /** How many times it was handed to a connection. */
  attempts: number;
}

export interface OutboxOptions {
  capacity?: number;
  /** JSON file to persist the outbox to; in memory only when absent. */
  file?: string;
}

const FILE_FORMAT = 1;

export class Outbox {
  readonly capacity: number;
  private readonly entries = new Map<string, OutboxEntry>();
  private readonly inflight = new Set<string>();
  private droppedCount = 0;
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly options: OutboxOptions = {}) {
    this.capacity = options.capacity ?? 1000;
    if (!(this.capacity >= 1)) throw new RangeError('outbox capacity must be at least 1');
  }

  get size(): number {
    return this.entries.size;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  ids(kind: OutboxEntry['kind']): string[] {
    return [...this.entries.values()].filter((entry) => entry.kind === kind).map((entry) => entry.id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Loads what a previous run left behind. A missing file is an empty outbox. */
  async load(): Promise<void> {
    if (!this.options.file) return;
    let text: string;
    try {
      text = await readFile(this.options.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const saved = JSON.parse(text) as { format?: number; entries?: OutboxEntry[] };
    if (saved.format !== FILE_FORMAT || !Array.isArray(saved.entries)) {
      throw new Error(`${this.options.file} is not an outbox file`);
    }
    for (const entry of saved.entries.slice(-this.capacity)) this.entries.set(entry.id, entry);
  }

  /** Queues a message; a message with an id already queued is not queued twice. */
  add(entry: Omit<OutboxEntry, 'attempts'>): void {
    if (this.entries.has(entry.id)) return;
    if (this.entries.size >= this.capacity) this.dropOldestWaiting();
    this.entries.set(entry.id, { ...entry, attempts: 0 });
    this.changed();
  }

  /** The next message waiting to be sent on the current connection. */
  nextWaiting(): OutboxEntry | undefined {
    for (const entry of this.entries.values()) if (!this.inflight.has(entry.id)) return entry;
    return undefined;
  }

  markInflight(entry: OutboxEntry): void {
    this.inflight.add(entry.id);
    entry.attempts++;
  }

  /** The connection ended: whatever it carried unacknowledged waits for the next one. */
  releaseInflight(): void {
    this.inflight.clear();
  }

  /** Marks one message as waiting again, e.g. after its publish failed. */
  release(id: string): void {
    this.inflight.delete(id);
  }

  /** The PUBACK arrived: the message is delivered. */
  remove(id: string): OutboxEntry | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    this.inflight.delete(id);
    this.changed();
    return entry;
  }

  /** Resolves once everything changed so far is on disk. */
  async flush(): Promise<void> {
    await this.saving;
  }

  private dropOldestWaiting(): void {
    const victim = this.nextWaiting() ?? this.entries.values().next().value;
    if (!victim) return;
    this.entries.delete(victim.id);
    this.inflight.delete(victim.id);
    this.droppedCount++;
  }

  /** Coalesces bursts of changes into one write; writes never overlap. */
  private changed(): void {
    if (!this.options.file || this.dirty) return;
    this.dirty = true;
    this.saving = this.saving.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => this.save());
  }

  private async save(): Promise<void> {
    const file = this.options.file as string;
    this.dirty = false;
    const body = JSON.stringify({ format: FILE_FORMAT, entries: [...this.entries.values()] });
    await mkdir(dirname(file), { recursive: true });
    // Write then rename, so a crash mid-write leaves the previous outbox intact.
    const temporary = `${file}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, file);
  }
}
