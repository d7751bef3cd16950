/**
 * Builds schedules the way the hub will: daily local times in an IANA zone,
 * expanded to UTC instants over a horizon. The hub owns this in production;
 * the simulator needs it for demos and tests against a bare broker, where no
 * hub publishes schedules.
 */
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

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, format);
  }
  return format;
}

/** The wall-clock reading in `timezone` at an instant, as if it were UTC. */
function wallClockAsUtc(instant: number, timezone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(timezone).formatToParts(instant)) parts[part.type] = Number(part.value);
  return Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
}

/**
 * The UTC instant of a local date and time. The offset is read twice so a time
 * just after a DST change lands right; a time inside a spring-forward gap
 * moves forward by the gap, as most calendars do.
 */
export function zonedToUtc(date: LocalDate, [hour, minute]: [number, number], timezone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day, hour, minute);
  const first = wall - (wallClockAsUtc(wall, timezone) - wall);
  return wall - (wallClockAsUtc(first, timezone) - first);
}

function* localDates(from: number, until: number, timezone: string): Generator<LocalDate> {
  const start = new Date(wallClockAsUtc(from, timezone));
  const end = wallClockAsUtc(until, timezone);
  for (let day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()); day <= end; day += 24 * HOUR) {
    const date = new Date(day);
    yield { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
  }
}
