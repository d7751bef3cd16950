/**
 * Reconnect delays: exponential, capped, with "equal jitter" (half fixed, half
 * random) so that ten thousand devices dropped by the same broker restart do
 * not all come back in the same millisecond, yet none waits for nothing.
 */
import type { Random } from './random.js';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Real ms a connection must stay up before the delays start over (default 30 s). */
  resetAfterMs?: number;
  random?: Random;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly random: Random;
  /**
   * A connection that the broker accepts and then drops at once (a hub whose store
   * is down closes it on the first event) is no success: the delays start over only
   * once a connection has lasted this long.
   */
  readonly resetAfterMs: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 60_000;
    this.resetAfterMs = options.resetAfterMs ?? 30_000;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, in real milliseconds. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return ceiling / 2 + this.random() * (ceiling / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
