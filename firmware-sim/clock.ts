/**
 * Simulated time. It may run faster than real time (`speed`), so a test or a
 * demo can live through a day in seconds. Doses follow each device's clock:
 * this simulated time plus the device's skew. Transport timing (heartbeats,
 * reconnect backoff, keepalive) stays in real time, because the hub judges
 * liveness with its own wall clock.
 */
export interface SimClock {
  /** Simulated now, in epoch milliseconds. */
  now(): number;
  /** Simulated milliseconds per real millisecond (1 = real time). */
  readonly speed: number;
}

export interface SimClockOptions {
  /** Simulated instant at creation (epoch ms); defaults to the real now. */
  startAt?: number;
  speed?: number;
  /** Real clock, injectable for tests. */
  realNow?: () => number;
}

export function createSimClock(options: SimClockOptions = {}): SimClock {
  const realNow = options.realNow ?? Date.now;
  const speed = options.speed ?? 1;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, got ${speed}`);
  const realStart = realNow();
  const simStart = options.startAt ?? realStart;
  return { speed, now: () => simStart + (realNow() - realStart) * speed };
}

/** Real milliseconds to wait until a simulated instant. */
export function realDelayUntil(clock: SimClock, simAt: number): number {
  return Math.max(0, (simAt - clock.now()) / clock.speed);
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** The wire form of an instant: UTC, trailing Z, millisecond precision. */
export const isoInstant = (epochMs: number): string => new Date(Math.round(epochMs)).toISOString();
