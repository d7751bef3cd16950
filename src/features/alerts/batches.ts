/**
 * Thousands of alerts at once (every patient's 08:00 dose closing in the same minute) are
 * raised and resolved in batches. A batch's store round trips stay constant (raise-many.test.ts),
 * and what it holds — alerts, recipients, notifications, the driver's and mongoose's objects —
 * dies young instead of surviving one garbage collection after another: in a single batch of
 * 2,700 alerts, garbage collection was 37% of the sweep (bench:doses --profile).
 */
export const ALERTS_PER_BATCH = 500;

/** `run` on each batch of `items` in turn; its answers concatenated in order. */
export async function inBatches<T, R>(items: readonly T[], run: (batch: T[]) => Promise<R[]>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += ALERTS_PER_BATCH) results.push(...(await run(items.slice(start, start + ALERTS_PER_BATCH))));
  return results;
}
