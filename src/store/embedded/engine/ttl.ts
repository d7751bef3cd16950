/**
 * TTL monitor: like mongod's (every 60 s by default), removes documents whose indexed date
 * plus `expireAfterSeconds` lies in the past. Only single-field indexes expire documents, and
 * only those the index holds (its partial filter matches); for an array of dates the earliest
 * counts; documents without a date never expire.
 */
import type { Document } from 'bson';
import type { Engine } from './engine.js';
import { WriteLog } from './journal-ops.js';
import { indexValuesAtPath } from './paths.js';

function earliestDate(doc: Document, parts: string[]): number | undefined {
  let earliest: number | undefined;
  for (const value of indexValuesAtPath(doc, parts)) {
    if (value instanceof Date && (earliest === undefined || value.getTime() < earliest)) earliest = value.getTime();
  }
  return earliest;
}

/** One pass over every TTL index; returns how many documents were removed. */
export async function sweepExpiredDocuments(engine: Engine, now = Date.now()): Promise<number> {
  const log = new WriteLog();
  let removed = 0;
  for (const collection of [...engine.catalog.all()]) {
    for (const index of collection.indexes.values()) {
      const [field] = index.fields;
      if (index.expireAfterSeconds === undefined || field === undefined || index.fields.length !== 1) continue;
      const ttlMs = index.expireAfterSeconds * 1000;
      const expired = [...collection.documents.values()].filter((doc) => {
        const date = earliestDate(doc, field.parts);
        // Only documents the index holds expire (a partial filter or sparse may leave some out).
        return date !== undefined && date + ttlMs <= now && index.keysOf(doc).length > 0;
      });
      for (const doc of expired) {
        if (collection.documents.has(engine.catalog.idKey(doc))) {
          engine.catalog.remove(collection, doc, log);
          removed += 1;
        }
      }
    }
  }
  engine.retryableWrites.forgetIdle(engine.settings.logicalSessionTimeoutMinutes * 60_000, now);
  await engine.commit(log);
  return removed;
}

export class TtlMonitor {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(engine: Engine, intervalMs: number) {
    this.timer = setInterval(() => {
      this.running = sweepExpiredDocuments(engine).catch((error: unknown) =>
        engine.settings.logger.error({ err: String(error) }, 'TTL sweep failed'),
      );
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
