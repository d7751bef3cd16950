/**
 * A plan's schedule items → the UTC instants of their doses in a range. Pure,
 * so that the DST rules (see zone.ts) are tested without a hub.
 */
import { addDays, daysBetween, localDate, localDates, wallTimeInstants, weekday } from './zone.js';

export interface ExpandItem {
  id: string;
  medicationId: string;
  times: string[];
  daysOfWeek?: number[] | null;
  everyNDays?: number | null;
  startDate: string;
  endDate?: string | null;
}

export interface ExpandedDose {
  itemId: string;
  medicationId: string;
  dueAt: Date;
  localDate: string;
}

/** Whether the item has doses on this local date. */
export function itemOnDate(item: ExpandItem, date: string): boolean {
  if (date < item.startDate) return false;
  if (item.endDate && date > item.endDate) return false;
  if (item.everyNDays && item.everyNDays > 1 && daysBetween(item.startDate, date) % item.everyNDays !== 0) return false;
  if (item.daysOfWeek && item.daysOfWeek.length > 0 && !item.daysOfWeek.includes(weekday(date))) return false;
  return true;
}

/** Doses with from <= dueAt < to, in dueAt order. */
export function expandItems(items: ExpandItem[], zone: string, from: Date, to: Date): ExpandedDose[] {
  // A local date's doses can fall up to ±14 h around its UTC date; scan one day either side.
  const first = addDays(localDate(from, zone), -1);
  const last = addDays(localDate(to, zone), 1);
  const doses: ExpandedDose[] = [];
  for (const date of localDates(first, last)) {
    for (const item of items) {
      if (!itemOnDate(item, date)) continue;
      for (const dueAt of instantsOnDate(item.times, date, zone)) {
        if (dueAt >= from && dueAt < to) doses.push({ itemId: item.id, medicationId: item.medicationId, dueAt, localDate: date });
      }
    }
  }
  return doses.sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
}

/**
 * One item's instants on a local date, one per distinct time. A time in a spring-forward gap lands
 * one gap later (02:00 → 03:00 CEST) and may meet a time of the item that exists (03:00): it then
 * takes its other reading (02:00 → 01:00 CET), so that no dose is lost to the unique
 * (planId, itemId, dueAt) key. Only when both readings are taken (an hourly item across the gap)
 * does it merge with its neighbour: the day has one hour fewer.
 */
function instantsOnDate(times: string[], date: string, zone: string): Date[] {
  const readings = [...new Set(times)].map((time) => wallTimeInstants(date, time, zone));
  const taken = new Set<number>();
  const instants: Date[] = [];
  const place = (instant: Date): boolean => {
    if (taken.has(instant.getTime())) return false;
    taken.add(instant.getTime());
    instants.push(instant);
    return true;
  };
  // Times that exist first: they keep their instant whatever the gap's times do.
  for (const { instant } of readings.filter((r) => !r.earlier)) place(instant);
  for (const { instant, earlier } of readings.filter((r) => r.earlier)) if (!place(instant) && earlier) place(earlier);
  return instants;
}

/** Average doses per day of an item (for stock: days left at the plan's rate). */
export function dosesPerDay(item: ExpandItem): number {
  const perDay = new Set(item.times).size;
  const weekly = item.daysOfWeek && item.daysOfWeek.length > 0 ? new Set(item.daysOfWeek).size / 7 : 1;
  const every = item.everyNDays && item.everyNDays > 1 ? 1 / item.everyNDays : 1;
  return perDay * weekly * every;
}

/** Whether the item has doses on some local date from `first` to `last` (inclusive): started, not ended. */
export function itemActiveBetween(item: ExpandItem, first: string, last: string): boolean {
  return item.startDate <= last && (!item.endDate || item.endDate >= first);
}

const DAY_MS = 86_400_000;
const dayNumber = (date: string): number => Math.round(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
const dateOf = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);
const mod = (a: number, n: number): number => ((a % n) + n) % n;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
/** ISO weekday of a day number (day 0, 1970-01-01, was a Thursday). */
const weekdayOf = (day: number): number => mod(day + 3, 7) + 1;

/**
 * The first local date both items have doses on, or null when they never share a day: their
 * ranges meet, their every-N-days progressions meet (stepping along the first, at most N of the
 * second steps), and a day of the common progression falls on a weekday both allow (its weekdays
 * repeat within 7 steps). Arithmetic, not a walk over the dates: ranges may span centuries.
 */
export function firstCommonDate(a: ExpandItem, b: ExpandItem): string | null {
  const first = Math.max(dayNumber(a.startDate), dayNumber(b.startDate));
  const last = Math.min(a.endDate ? dayNumber(a.endDate) : Infinity, b.endDate ? dayNumber(b.endDate) : Infinity);
  if (first > last) return null;
  const every = (item: ExpandItem): number => (item.everyNDays && item.everyNDays > 1 ? item.everyNDays : 1);
  const [na, nb] = [every(a), every(b)];
  let common: number | null = null;
  for (let i = 0, day = first + mod(dayNumber(a.startDate) - first, na); i < nb; i += 1, day += na) {
    if (mod(day - dayNumber(b.startDate), nb) === 0) {
      common = day;
      break;
    }
  }
  if (common === null) return null;
  const period = (na / gcd(na, nb)) * nb;
  const allows = (item: ExpandItem, day: number): boolean => !item.daysOfWeek || item.daysOfWeek.length === 0 || item.daysOfWeek.includes(weekdayOf(day));
  for (let j = 0; j < 7; j += 1) {
    const day = common + j * period;
    if (day > last) return null;
    if (allows(a, day) && allows(b, day)) return dateOf(day);
  }
  return null;
}
