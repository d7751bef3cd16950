/**
 * Load through the real contract: a schedule (PUT /devices/{id}/schedule, which
 * the hub publishes retained) whose doses fall due in a burst. With a window of
 * { early 0, late 0, missed 1 min } the simulator's `adherent` patient takes
 * each dose the moment it is dispensed, so every dose is exactly two QoS 1
 * events, `dose.dispensed` then `dose.taken`, at its dueAt (real time when the
 * simulator runs at speed 1). Give the fleet `slots: { pillsPerSlot }` large
 * enough (the contract allows 1000) that no slot runs low (`refill.low`) or empty (`dose.missed`).
 */
export const BURST_WINDOW = { earlyMinutes: 0, lateAfterMinutes: 0, missedAfterMinutes: 1 } as const;
export const EVENTS_PER_DOSE = 2;
/** The schedule contract's limit on items. */
export const MAX_DOSES_PER_SCHEDULE = 256;

export interface DoseBurstOptions {
  /** Epoch ms of the first dose. */
  startAt: number;
  doses: number;
  /** Real ms between two doses of this device. */
  spacingMs: number;
  /** Slots to rotate through (default 4, as the simulator's dispensers have). */
  slots?: number;
}

export interface ScheduleRequest {
  timezone: string;
  items: { slot: number; pills: number; dueAt: string; window: typeof BURST_WINDOW }[];
}

export function doseBurstSchedule({ startAt, doses, spacingMs, slots = 4 }: DoseBurstOptions): ScheduleRequest {
  if (doses > MAX_DOSES_PER_SCHEDULE) throw new RangeError(`at most ${MAX_DOSES_PER_SCHEDULE} doses per schedule, got ${doses}`);
  if (!(spacingMs >= 1)) throw new RangeError('doses need distinct instants: spacingMs >= 1');
  const items = Array.from({ length: doses }, (_, index) => ({
    slot: (index % slots) + 1,
    pills: 1,
    dueAt: new Date(Math.round(startAt + index * spacingMs)).toISOString(),
    window: BURST_WINDOW,
  }));
  return { timezone: 'UTC', items };
}

/** Runs `work` over `items` with at most `concurrency` at once. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
