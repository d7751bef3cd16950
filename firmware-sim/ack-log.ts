/**
 * An append-only JSONL record of every event whose PUBACK the simulator saw,
 * one line per event, shared by all devices of a fleet. The hub's crash test
 * reads it to check that every acknowledged event was really stored.
 */
import { mkdirSync, createWriteStream, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

export interface AckRecord {
  deviceId: string;
  eventId: string;
  type: string;
  /** Real time the PUBACK arrived. */
  ackedAt: string;
}

export class AckLog {
  private readonly stream: WriteStream;
  private lines = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'a' });
  }

  get written(): number {
    return this.lines;
  }

  record(entry: AckRecord): void {
    this.stream.write(`${JSON.stringify(entry)}\n`);
    this.lines++;
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }
}
