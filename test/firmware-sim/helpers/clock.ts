/**
 * A simulated clock the test moves by hand (SimClock is the simulator's
 * injection point for time). It does not move on its own, so "the event loop
 * lagged by three simulated minutes" or "the simulator was off for an hour"
 * is one assignment, not a sleep. At speed 1 a task armed for 50 ms ahead
 * fires 50 real ms later and then reads wherever the test has set the clock.
 */
import type { SimClock } from '../../../firmware-sim/clock.js';

export interface ManualClock extends SimClock {
  set(instant: number | string): void;
}

export function manualClock(start: number | string): ManualClock {
  let now = typeof start === 'string' ? Date.parse(start) : start;
  return {
    speed: 1,
    now: () => now,
    set(instant) {
      now = typeof instant === 'string' ? Date.parse(instant) : instant;
    },
  };
}
