/**
 * Zone math for schedules: a wall-clock time on a local date in an IANA zone
 * → one UTC instant, with luxon (which reads the zone rules of the runtime's ICU).
 *
 * DST rules, chosen once and documented in docs/DOSES.md:
 *  - spring-forward gap (a 02:30 dose on a day when 02:00–03:00 does not exist):
 *    the dose is due at the first valid instant after the gap, i.e. the
 *    transition itself (03:00 local in Europe/Paris), never later;
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

/** The UTC instant of `time` on the local `date` (YYYY-MM-DD) in `zone`. */
export function localToUtc(date: string, time: string, zone: string): Date {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const { hour, minute } = parseTime(time);
  const wall = { year, month, day, hour, minute };
  const dt = DateTime.fromObject(wall, { zone });
  if (!dt.isValid) throw new Error(`Invalid local time ${date} ${time} in ${zone}`);
  if (dt.hour !== hour || dt.minute !== minute) return gapEnd(dt.toMillis(), zone);
  // Overlap: the same wall time may exist with a larger (earlier-instant) offset too.
  const earlier = candidateWithOffset(wall, zone, Math.max(offsetAt(dt.toMillis() - 3 * 3_600_000, zone), dt.offset));
  return new Date(Math.min(earlier ?? dt.toMillis(), dt.toMillis()));
}

function offsetAt(ms: number, zone: string): number {
  return DateTime.fromMillis(ms, { zone }).offset;
}

/** The instant at which the given wall time, read with this offset (minutes), shows the same wall time in the zone; null if none. */
function candidateWithOffset(wall: { year: number; month: number; day: number; hour: number; minute: number }, zone: string, offset: number): number | null {
  const ms = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute) - offset * 60_000;
  const back = DateTime.fromMillis(ms, { zone });
  return back.hour === wall.hour && back.minute === wall.minute && back.day === wall.day ? ms : null;
}

/**
 * luxon places a wall time inside a gap at the old offset (02:30 → 03:30 CEST);
 * the transition itself is the first valid instant after the gap: the earliest
 * instant before that whose offset is already the new one (found to the minute).
 */
function gapEnd(shiftedMs: number, zone: string): Date {
  const after = offsetAt(shiftedMs, zone);
  let lo = shiftedMs - 24 * 3_600_000; // old offset here
  let hi = shiftedMs; // new offset here
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (offsetAt(mid, zone) === after) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
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
