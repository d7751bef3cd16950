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
