/**
 * Builds schedules the way the hub will: daily local times in an IANA zone,
 * expanded to UTC instants over a horizon. The hub owns this in production;
 * the simulator needs it for demos and tests against a bare broker, where no
 * hub publishes schedules.
 */
import { DateTime } from 'luxon';
import { HOUR, MINUTE } from './clock.js';
import type { DeviceSchedule, DoseWindow, ScheduleItem } from './payloads.js';

export interface DailyDose {
  /** Local wall-clock time, HH:MM. */
  time: string;
  slot: number;
  pills: number;
}

export interface DailyScheduleOptions {
  version: number;
  doses: DailyDose[];
  /** Simulated instant the schedule is generated at (epoch ms). */
  from: number;
  timezone?: string;
  /** Horizon; the contract asks for at least 48 h. */
  hours?: number;
  window?: DoseWindow;
  /** Prefix for generated occurrence ids; none are generated when null. */
  occurrencePrefix?: string | null;
}

export const DEFAULT_WINDOW: DoseWindow = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 120 };

export function buildDailySchedule(options: DailyScheduleOptions): DeviceSchedule {
  const timezone = options.timezone ?? 'UTC';
  const window = options.window ?? DEFAULT_WINDOW;
  const until = options.from + (options.hours ?? 72) * HOUR;
  // Doses whose window is still open at `from` are listed too.
  const earliest = options.from - window.missedAfterMinutes * MINUTE;
  const items: ScheduleItem[] = [];
  for (const date of localDates(earliest, until, timezone)) {
    for (const dose of options.doses) {
      const dueMs = zonedToUtc(date, parseTime(dose.time), timezone);
      if (dueMs < earliest || dueMs >= until) continue;
      const dueAt = new Date(dueMs).toISOString();
      const prefix = options.occurrencePrefix === undefined ? 'occ' : options.occurrencePrefix;
      const occurrence = prefix === null ? {} : { occurrenceId: `${prefix}_${dose.slot}_${dueAt.slice(0, 16).replace(/[-:T]/g, '')}` };
      items.push({ ...occurrence, slot: dose.slot, pills: dose.pills, dueAt, window });
    }
  }
  items.sort((a, b) => Date.parse(a.dueAt) - Date.parse(b.dueAt) || a.slot - b.slot);
  return {
    version: options.version,
    timezone,
    generatedAt: new Date(options.from).toISOString(),
    validUntil: new Date(until).toISOString(),
    items,
  };
}

/** "08:30" → [8, 30]. */
export function parseTime(time: string): [number, number] {
  const match = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(time);
  if (!match) throw new RangeError(`not a HH:MM time: ${time}`);
  return [Number(match[1]), Number(match[2])];
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/**
 * The UTC instant of a local date and time, by the hub's rules
 * (src/features/doses/zone.ts, docs/DOSES.md), with luxon as the hub does:
 *  - a time inside a spring-forward gap is read with the offset in force before
 *    the gap, so it lands as far after the transition as it was after the gap's
 *    start (Europe/Paris 02:30 → 03:30 CEST; America/Santiago 00:00 → 01:00),
 *    forward whichever side of UTC the zone is on;
 *  - a time that happens twice (fall-back) is the first of the two.
 */
export function zonedToUtc(date: LocalDate, [hour, minute]: [number, number], timezone: string): number {
  const wall = { ...date, hour, minute };
  const reading = DateTime.fromObject(wall, { zone: timezone });
  if (!reading.isValid) throw new RangeError(`no such local time ${date.year}-${date.month}-${date.day} ${hour}:${minute} in ${timezone}`);
  // In a gap luxon moves the time forward (the offset before the gap): the wall clock then reads a later time.
  if (reading.hour !== hour || reading.minute !== minute) return reading.toMillis();
  // Otherwise the same wall time may also exist with the offset in force a few hours before or after it.
  const wallAsUtc = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
  let earliest = reading.toMillis();
  for (const around of [-3 * HOUR, 3 * HOUR]) {
    const offsetMinutes = DateTime.fromMillis(reading.toMillis() + around, { zone: timezone }).offset;
    const candidate = wallAsUtc - offsetMinutes * MINUTE;
    const back = DateTime.fromMillis(candidate, { zone: timezone });
    if (back.day === date.day && back.hour === hour && back.minute === minute) earliest = Math.min(earliest, candidate);
  }
  return earliest;
}

/** Every local date in `timezone` from the one `from` falls on to the one `until` falls on. */
function* localDates(from: number, until: number, timezone: string): Generator<LocalDate> {
  const last = DateTime.fromMillis(until, { zone: timezone }).startOf('day');
  for (let day = DateTime.fromMillis(from, { zone: timezone }).startOf('day'); day <= last; day = day.plus({ days: 1 })) {
    yield { year: day.year, month: day.month, day: day.day };
  }
}
