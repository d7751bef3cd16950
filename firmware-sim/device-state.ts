/**
 * What a dispenser keeps in flash besides its outbox: the schedule it follows
 * (and so its version), what it already did with each of that schedule's doses,
 * and how many pills each slot holds. With a file it survives a restart of the
 * simulator, so the restarted device neither dispenses an open dose again nor
 * reports version 0 until the broker hands it the retained schedule.
 *
 * Written like the outbox: bursts of changes coalesced into one write, a
 * temporary file renamed over the old one, writes never overlapping.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DoseRecord } from './doses.js';
import { readSchedule } from './inbound.js';
import type { CommandAck, DeviceSchedule, SlotFillLevel } from './payloads.js';

export interface SavedDeviceState {
  /** The applied schedule, or null before the first one. */
  schedule: DeviceSchedule | null;
  doses: DoseRecord[];
  slots: SlotFillLevel[];
  /** The outcomes of the commands it carried out (commands.ts), so none is carried out twice. */
  commands: CommandAck[];
}

const FILE_FORMAT = 1;

/** The state file that goes with an outbox file: `dir/dev-1.json` → `dir/dev-1.state.json`. */
export function stateFileFor(outboxFile: string): string {
  return `${outboxFile.replace(/\.json$/, '')}.state.json`;
}

export class DeviceStateFile {
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;

  /** `snapshot` is read when a write happens, so a burst of changes costs one write of the latest state. */
  constructor(
    private readonly file: string | undefined,
    private readonly snapshot: () => SavedDeviceState,
  ) {}

  /** What a previous run saved; undefined when there is no file (a new device). */
  async load(): Promise<SavedDeviceState | undefined> {
    if (!this.file) return undefined;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const saved = JSON.parse(text) as Partial<SavedDeviceState> & { format?: number };
    if (saved.format !== FILE_FORMAT || !Array.isArray(saved.doses) || !Array.isArray(saved.slots)) {
      throw new Error(`${this.file} is not a device state file`);
    }
    // A schedule saved by an older simulator may no longer fit the contract: then the device starts without one.
    const schedule = saved.schedule ? (readSchedule(saved.schedule) ?? null) : null;
    return { schedule, doses: saved.doses, slots: saved.slots, commands: Array.isArray(saved.commands) ? saved.commands : [] };
  }

  /**
   * Something changed: write it soon. Resolves once a write that holds the change is done (at once
   * without a file); rejects if that write failed, and the next change writes again.
   */
  changed(): Promise<void> {
    if (!this.file || this.closed) return Promise.resolve();
    if (!this.dirty) {
      this.dirty = true;
      this.saving = this.saving
        .catch(() => undefined)
        .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
        .then(() => this.save());
    }
    return this.saving;
  }

  /** Writes what is pending, then ignores further changes (the device is stopping and forgets its doses). */
  async close(): Promise<void> {
    // A change that arrives while the last save runs (a schedule, a dispense_now) is saved too;
    // closed in the same turn as the last check, so nothing is queued after it.
    for (;;) {
      const pending = this.saving;
      // A write that failed was logged by whoever was waiting for it; stopping goes on.
      await pending.catch(() => undefined);
      if (!this.dirty && pending === this.saving) break;
    }
    this.closed = true;
  }

  private async save(): Promise<void> {
    const file = this.file as string;
    this.dirty = false;
    const body = JSON.stringify({ format: FILE_FORMAT, ...this.snapshot() });
    await mkdir(dirname(file), { recursive: true });
    const temporary = `${file}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, file);
  }
}
