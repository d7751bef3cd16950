/** Timing helpers for latency benchmarks whose two ends live in different processes. */

/**
 * Epoch milliseconds with sub-millisecond resolution, comparable between processes of the same
 * machine (both read the same system clock at their start, then the monotonic clock).
 */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles; NaN for an empty sample. */
export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  return { count: sorted.length, p50: rank(50), p99: rank(99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

export const formatDistribution = ({ count, p50, p99, max }: Distribution): string => `${count} samples: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`;
