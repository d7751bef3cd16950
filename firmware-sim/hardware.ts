/**
 * The physical parts of a dispenser that the wire contract reports on: pill
 * slots with a refill threshold, a battery that drains, a radio whose signal
 * wanders. Deliberately simple; only the numbers' ranges matter to the hub.
 */
import { HOUR } from './clock.js';
import type { Random } from './random.js';
import type { SlotFillLevel } from './payloads.js';

export interface SlotsOptions {
  count?: number;
  pillsPerSlot?: number;
  refillThreshold?: number;
}

export class Slots {
  private readonly pills: number[];
  private readonly lowReported = new Set<number>();
  readonly refillThreshold: number;

  constructor(options: SlotsOptions = {}) {
    const count = options.count ?? 4;
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new RangeError('slot count must be 1..64');
    this.pills = new Array<number>(count).fill(options.pillsPerSlot ?? 30);
    this.refillThreshold = options.refillThreshold ?? 5;
  }

  has(slot: number): boolean {
    return Number.isInteger(slot) && slot >= 1 && slot <= this.pills.length;
  }

  count(slot: number): number {
    return this.pills[slot - 1] ?? 0;
  }

  /** Removes pills for a dose; false (and nothing removed) when the slot holds too few. */
  take(slot: number, pills: number): boolean {
    if (!this.has(slot) || this.count(slot) < pills) return false;
    this.pills[slot - 1] = this.count(slot) - pills;
    return true;
  }

  refill(slot: number, pills: number): void {
    if (!this.has(slot)) throw new RangeError(`no slot ${slot}`);
    this.pills[slot - 1] = pills;
    if (pills > this.refillThreshold) this.lowReported.delete(slot);
  }

  /** True once each time a slot falls to or below the threshold (the device reports it once). */
  becameLow(slot: number): boolean {
    if (this.count(slot) > this.refillThreshold || this.lowReported.has(slot)) return false;
    this.lowReported.add(slot);
    return true;
  }

  levels(): SlotFillLevel[] {
    return this.pills.map((pills, index) => ({ slot: index + 1, pills }));
  }

  /** Puts back the levels a previous run saved (pills do not refill themselves when the device restarts). */
  restore(levels: readonly SlotFillLevel[]): void {
    for (const { slot, pills } of levels) {
      if (!this.has(slot) || !Number.isInteger(pills) || pills < 0) continue;
      this.pills[slot - 1] = pills;
      if (pills <= this.refillThreshold) this.lowReported.add(slot); // reported before the restart
    }
  }
}

/** Battery and radio readings for heartbeats. */
export class Vitals {
  private rssi: number;
  private readonly batteryAtBoot: number;

  constructor(private readonly random: Random) {
    this.batteryAtBoot = 60 + Math.floor(random() * 41);
    this.rssi = -55 - Math.floor(random() * 30);
  }

  /** About 1 % per simulated two hours, never below 5 % (the simulated patient charges it). */
  batteryPercent(uptimeMs: number): number {
    return Math.max(5, Math.round(this.batteryAtBoot - uptimeMs / (2 * HOUR)));
  }

  /** A random walk between -95 and -40 dBm. */
  rssiDbm(): number {
    this.rssi = Math.min(-40, Math.max(-95, this.rssi + Math.round((this.random() - 0.5) * 6)));
    return this.rssi;
  }
}
