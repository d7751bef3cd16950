/**
 * Zone math for schedules: a wall-clock time on a local date in an IANA zone
 * → one UTC instant, with luxon (which reads the zone rules of the runtime's ICU).
 *
 * DST rules, chosen once and documented in docs/DOSES.md:
 *  - spring-forward gap (a 02:30 dose on a day when 02:00–03:00 does not exist):
 *    the wall time is read with the offset in force before the gap, so it lands
 *    as far after the transition as it was after the gap's start (02:30 →
 *    03:30 CEST), as Temporal's 'compatible' disambiguation does: distinct wall
 *    times stay distinct instants (all of them mapped to the transition would
 *    collapse into one dose);
 *  - fall-back overlap (02:30 happens twice): the first of the two (the
 *    earlier UTC instant, still on summer time).
 */
import { DateTime } from 'luxon';

export interface LocalTime {
  hour: number;
  minute: number;
}

export function parseTime(time: string): LocalTime {
  const [hour, minute] = time.split(':').map(Number) as [number, number];
  return { hour, minute };
}

export function isValidZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

/** The UTC instant of `time` on the local `date` (YYYY-MM-DD) in `zone` (see the DST rules above). */
export function localToUtc(date: string, time: string, zone: string): Date {
  return wallTimeInstants(date, time, zone).instant;
}

/**
 * The instant of a wall time (DST rules above) and, for a wall time in a spring-forward gap, the
 * other reading of it (`earlier`: with the offset in force after the gap, 02:30 → 01:30 CET), for
 * when the first reading lands on a time the same item already has (02:00 → 03:00 CEST, like 03:00).
 */
export function wallTimeInstants(date: string, time: string, zone: string): { instant: Date; earlier: Date | null } {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const { hour, minute } = parseTime(time);
  const wall = { year, month, day, hour, minute };
  // luxon reads a wall time inside a gap with the offset before it: Temporal's 'compatible'.
  const dt = DateTime.fromObject(wall, { zone });
  if (!dt.isValid) throw new Error(`Invalid local time ${date} ${time} in ${zone}`);
  if (dt.hour !== hour || dt.minute !== minute) return { instant: dt.toJSDate(), earlier: new Date(wallMillis(wall) - dt.offset * 60_000) };
  // Overlap: the same wall time may exist with a larger (earlier-instant) offset too.
  const earlier = candidateWithOffset(wall, zone, Math.max(offsetAt(dt.toMillis() - 3 * 3_600_000, zone), dt.offset));
  return { instant: new Date(Math.min(earlier ?? dt.toMillis(), dt.toMillis())), earlier: null };
}

type Wall = { year: number; month: number; day: number; hour: number; minute: number };

/** The wall time's digits read as if they were UTC. */
const wallMillis = (wall: Wall): number => Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);

function offsetAt(ms: number, zone: string): number {
  return DateTime.fromMillis(ms, { zone }).offset;
}

/** The instant at which the given wall time, read with this offset (minutes), shows the same wall time in the zone; null if none. */
function candidateWithOffset(wall: Wall, zone: string, offset: number): number | null {
  const ms = wallMillis(wall) - offset * 60_000;
  const back = DateTime.fromMillis(ms, { zone });
  return back.hour === wall.hour && back.minute === wall.minute && back.day === wall.day ? ms : null;
}

/** The local date (YYYY-MM-DD) of an instant in a zone. */
export function localDate(instant: Date, zone: string): string {
  return DateTime.fromJSDate(instant, { zone }).toISODate() as string;
}

/** Local dates from `from` to `to` inclusive (YYYY-MM-DD). */
export function* localDates(from: string, to: string): Generator<string> {
  let day = DateTime.fromISO(from, { zone: 'UTC' });
  const end = DateTime.fromISO(to, { zone: 'UTC' });
  while (day <= end) {
    yield day.toISODate() as string;
    day = day.plus({ days: 1 });
  }
}

/** ISO weekday (1 = Monday … 7 = Sunday) of a local date. */
export function weekday(date: string): number {
  return DateTime.fromISO(date, { zone: 'UTC' }).weekday;
}

/** Whole days between two local dates (b − a). */
export function daysBetween(a: string, b: string): number {
  return Math.round(DateTime.fromISO(b, { zone: 'UTC' }).diff(DateTime.fromISO(a, { zone: 'UTC' }), 'days').days);
}

export function addDays(date: string, days: number): string {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate() as string;
}
