/**
 * Heartbeats waiting to be written: at most one per device, written by one flush at a time, at a
 * pace that slows down while the hub is saturated.
 *
 * A heartbeat (QoS 0) only tells the device's latest status, and its history is sampled anyway;
 * so a newer heartbeat takes the place of one still waiting (the older one's caller is answered
 * `null`: superseded), and a device costs at most one write per flush however often it beats.
 * Flushes wait a pause after the first heartbeat (to gather company) and never overlap, so a
 * slow store or a busy event loop makes batches larger instead of stacking writes. The pause is
 * {@link nextPause}: it doubles while the event loop was nearly always busy since the last flush
 * and halves once it has room again — so a reconnecting fleet heartbeating faster than the hub
 * can write costs fewer writes instead of delaying CONNECTs and QoS 1 events, which matter more.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface PaceBounds {
  /** The pause with room to spare: how long a heartbeat waits for company. */
  minMs: number;
  /** The longest pause: a status is at most this stale (well under the 30 s minimum silence timeout). */
  maxMs: number;
}

/** Event-loop utilization above which the pause doubles, and below which it halves. */
const SATURATED = 0.85;
const ROOMY = 0.6;

/** The next pause, given the last one and the event loop's utilization (0–1) since then. */
export function nextPause(lastMs: number, utilization: number, { minMs, maxMs }: PaceBounds): number {
  if (utilization > SATURATED) return Math.min(maxMs, Math.max(lastMs * 2, minMs));
  if (utilization < ROOMY) return Math.max(minMs, lastMs / 2);
  return Math.min(maxMs, Math.max(minMs, lastMs));
}

export interface LatestQueueOptions<T> {
  keyOf: (item: T) => string;
  pace: PaceBounds;
  /** Items per write call; a flush with more makes several calls, one after another. */
  maxBatch: number;
  /** Called with every pause chosen (a metric). */
  onPause?: (ms: number) => void;
}

interface Waiting<T, R> {
  item: T;
  resolve: (result: R | null) => void;
  reject: (error: unknown) => void;
}

export function createLatestQueue<T, R>(write: (items: T[]) => Promise<Array<R | Error>>, { keyOf, pace, maxBatch, onPause }: LatestQueueOptions<T>) {
  let waiting = new Map<string, Waiting<T, R>>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let pause = pace.minMs;
  let closing = false;
  let lastUtilization: EventLoopUtilization = performance.eventLoopUtilization();

  function choosePause(): number {
    const now = performance.eventLoopUtilization();
    pause = nextPause(pause, performance.eventLoopUtilization(now, lastUtilization).utilization, pace);
    lastUtilization = now;
    onPause?.(pause);
    return pause;
  }

  function startFlush(): void {
    clearTimeout(timer);
    timer = undefined;
    flushing = flush().finally(() => {
      flushing = undefined;
      schedule();
    });
  }

  function schedule(): void {
    if (timer !== undefined || flushing !== undefined || waiting.size === 0) return;
    if (closing) return startFlush();
    timer = setTimeout(startFlush, choosePause());
  }

  async function flush(): Promise<void> {
    const entries = [...waiting.values()];
    waiting = new Map();
    // One batch after another: a saturated hub's flush can hold thousands of devices, and their
    // writes all at once held the event loop for up to a second (CONNECTs and events wait behind).
    for (let from = 0; from < entries.length; from += maxBatch) await writeBatch(entries.slice(from, from + maxBatch));
  }

  async function writeBatch(batch: Waiting<T, R>[]): Promise<void> {
    try {
      const results = await write(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const result = results[index];
        if (result instanceof Error) entry.reject(result);
        else entry.resolve(result as R);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }

  return {
    /** Resolves with the write's result once written, or with null when a newer item of the same key took its place. */
    push(item: T): Promise<R | null> {
      return new Promise((resolve, reject) => {
        const key = keyOf(item);
        waiting.get(key)?.resolve(null);
        waiting.set(key, { item, resolve, reject });
        schedule();
      });
    },
    /** Answers null to the item of this key still waiting, if any, and forgets it. */
    drop(key: string): void {
      const entry = waiting.get(key);
      if (entry === undefined) return;
      waiting.delete(key);
      entry.resolve(null);
    },
    /**
     * From now on every item is written at once (its caller awaits it); resolves once what was
     * waiting or being written when called is written — not what keeps arriving meanwhile.
     */
    async close(): Promise<void> {
      closing = true;
      if (timer !== undefined) startFlush();
      // The flush running now, then the one its end starts for what arrived during it.
      await flushing;
      await flushing;
    },
  };
}
