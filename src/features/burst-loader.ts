/**
 * A DataLoader for what arrives in one turn of the event loop: every key asked for before the
 * next `setImmediate` shares one batch call (500 keys at most), and nothing is cached. The
 * features' way to turn a burst of per-message reads or writes (a fleet's events, its CONNECTs,
 * a sweep's resolutions) into one store round trip.
 */
import DataLoader from 'dataloader';

export const BURST_MAX_BATCH = 500;

export function burstLoader<K, V>(batch: DataLoader.BatchLoadFn<K, V>): DataLoader<K, V> {
  return new DataLoader<K, V>(batch, { cache: false, maxBatchSize: BURST_MAX_BATCH, batchScheduleFn: (flush) => setImmediate(flush) });
}
