/**
 * Writes that nobody waits on, gathered for a while and written together: what arrives within
 * `delayMs` of the first waiting item (or until `maxBatch` are waiting) goes out in one call.
 * burst-loader.ts gathers one turn of the event loop, which suits writes a caller awaits; this
 * suits bookkeeping whose delay costs nothing but saves a store round trip per burst. `flush()`
 * writes what is waiting now (on close).
 */
export interface DeferredBatch<T> {
  /** Resolves once the item's batch is written; rejects with the batch's error. */
  add(item: T): Promise<void>;
  flush(): Promise<void>;
  /** Items waiting (for tests and metrics). */
  readonly waiting: number;
}

export function deferredBatch<T>(write: (items: T[]) => Promise<void>, { delayMs, maxBatch }: { delayMs: number; maxBatch: number }): DeferredBatch<T> {
  let items: T[] = [];
  let settle: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();

  function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!items.length) return Promise.all(inFlight).then(() => undefined);
    const batch = items;
    const waiters = settle;
    items = [];
    settle = [];
    const written = write(batch).then(
      () => waiters.forEach((w) => w.resolve()),
      (error: unknown) => waiters.forEach((w) => w.reject(error)),
    );
    inFlight.add(written);
    void written.finally(() => inFlight.delete(written));
    return Promise.all(inFlight).then(() => undefined);
  }

  return {
    add(item: T): Promise<void> {
      const done = new Promise<void>((resolve, reject) => settle.push({ resolve, reject }));
      items.push(item);
      if (items.length >= maxBatch) void flush();
      else timer ??= setTimeout(() => void flush(), delayMs);
      return done;
    },
    flush,
    get waiting() {
      return items.length;
    },
  };
}
