/**
 * A plan as a client writes it (POST or PUT) → the plan as stored: defaults filled in, ids kept
 * stable across a PUT, refill spells opened or re-armed, and what cannot be a plan refused (with
 * the JSON path at fault). No reads or writes: the service stores what this answers.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors.js';
import { firstCommonDate, type ExpandItem } from './expand.js';
import { DEFAULT_WINDOWS, type PlanDoc, type PlanItemDoc } from './models.js';
import { invalid } from './shared.js';
import { daysOfStock } from './stock.js';
import { localDate } from './zone.js';

export interface PlanInput {
  /** PUT only: the revision the client read (optimistic concurrency); ignored on POST. */
  revision?: number;
  windows?: { earlyMinutes?: number; lateAfterMinutes?: number; missedAfterMinutes?: number };
  medications: Array<{ id?: string; name: string; strength?: string | null; instructions?: string | null; slot: number; pillsPerDose: number; stock?: number | null; criticality?: 'normal' | 'critical' }>;
  schedule: Array<{ id?: string; medicationId: string; times: string[]; daysOfWeek?: number[]; everyNDays?: number | null; startDate: string; endDate?: string | null }>;
}

const shortId = (): string => randomUUID().replaceAll('-', '').slice(0, 12);
const sortedTimes = (times: string[]): string[] => [...new Set(times)].sort();

/** The stored form of a client's plan (`previous`: the plan a PUT replaces, whose ids and refill spells carry over). */
export function normalise(input: PlanInput, { now, zone }: { now: Date; zone: string }, previous?: PlanDoc): Pick<PlanDoc, 'windows' | 'medications' | 'schedule'> {
  const windows = { ...DEFAULT_WINDOWS, ...input.windows };
  if (windows.lateAfterMinutes > windows.missedAfterMinutes) {
    throw new AppError('validation_failed', 'lateAfterMinutes must not exceed missedAfterMinutes', { details: [{ path: '/windows', message: 'lateAfterMinutes > missedAfterMinutes' }] });
  }
  const medications = input.medications.map((m) => {
    const before = previous?.medications.find((p) => p.id === m.id);
    return { id: m.id ?? shortId(), name: m.name, strength: m.strength ?? null, instructions: m.instructions ?? null, slot: m.slot, pillsPerDose: m.pillsPerDose, stock: m.stock ?? null, criticality: m.criticality ?? 'normal', refillAlertedAt: before?.refillAlertedAt ?? null };
  });
  const ids = new Set(medications.map((m) => m.id));
  const slots = new Set(medications.map((m) => m.slot));
  if (ids.size !== medications.length) throw invalid('/medications', 'medication ids must be unique');
  if (slots.size !== medications.length) throw invalid('/medications', 'each medication needs its own device slot');
  const itemIds = stableItemIds(input.schedule, previous?.schedule ?? []);
  const schedule = input.schedule.map((item, index) => {
    if (!ids.has(item.medicationId)) throw invalid(`/schedule/${index}/medicationId`, 'names no medication of this plan');
    if (item.endDate && item.endDate < item.startDate) throw invalid(`/schedule/${index}/endDate`, 'is before startDate');
    return { id: itemIds[index] as string, medicationId: item.medicationId, times: sortedTimes(item.times), daysOfWeek: item.daysOfWeek ?? [], everyNDays: item.everyNDays ?? null, startDate: item.startDate, endDate: item.endDate ?? null };
  });
  if (new Set(schedule.map((s) => s.id)).size !== schedule.length) throw invalid('/schedule', 'schedule item ids must be unique');
  refuseOverlaps(schedule);
  const today = localDate(now, zone);
  for (const medication of medications) {
    const low = daysOfStock(medication, schedule, today) !== null;
    // Stock no longer low (topped up, a lower rate, no longer counted) re-arms refill.low; its open alert is resolved once the plan is written (refillsCleared).
    if (!low) medication.refillAlertedAt = null;
    // Stock written low opens a low spell, claimed by the plan's own write; its alert is raised once the plan is written (refillsRaised).
    else if (!medication.refillAlertedAt) medication.refillAlertedAt = now;
  }
  return { windows, medications, schedule } as Pick<PlanDoc, 'windows' | 'medications' | 'schedule'>;
}

/**
 * Two items of one medication with a time in common on a day they share would give that day two
 * doses at that time (their item ids differ, so the unique key lets both in): refused, naming both.
 */
function refuseOverlaps(schedule: ExpandItem[]): void {
  schedule.forEach((item, index) => {
    for (let other = 0; other < index; other += 1) {
      const earlier = schedule[other] as ExpandItem;
      if (earlier.medicationId !== item.medicationId) continue;
      const time = item.times.find((t) => earlier.times.includes(t));
      const date = time ? firstCommonDate(earlier, item) : null;
      if (time && date) {
        throw invalid(`/schedule/${index}`, `overlaps schedule item ${other} (${earlier.id}): both give ${item.medicationId} at ${time}, from ${date} on; a dose must come from one item only`);
      }
    }
  });
}

/**
 * The ids of a PUT's schedule items: the client's, else the previous plan's item with the same
 * medication and times (a client replacing the plan as a whole sends what it read, maybe without
 * ids), else a new one. Stable ids keep the item's doses the same doses across the PUT.
 */
function stableItemIds(items: PlanInput['schedule'], previous: PlanItemDoc[]): string[] {
  const used = new Set(items.flatMap((item) => (item.id ? [item.id] : [])));
  return items.map((item) => {
    if (item.id) return item.id;
    const same = previous.find((p) => !used.has(p.id) && p.medicationId === item.medicationId && sortedTimes(p.times).join() === sortedTimes(item.times).join());
    const id = same?.id ?? shortId();
    used.add(id);
    return id;
  });
}
