/**
 * What a plan change (or a patient's time-zone change) does to the doses already there. Pure, so
 * that the rule is tested and read in one place; the service does the reading and writing.
 *
 * The rule (docs/DOSES.md, "Changing a plan"), per medication and local day: the new plan's doses
 * of that day are paired with the day's doses already decided or under way, nearest first, and
 * only the new doses left unpaired are created. A dose the patient has had or declined (taken,
 * late, skipped), and a dose already dispensed (its pills are out of the device, whatever its
 * state), pairs with any new dose of its day, however far the time moved: a once-a-day pill taken
 * (or dropped into the tray) at 08:00 is not offered again at 20:00 because the plan now says
 * 20:00. A dose that was not had (missed, unknown) or is under way and not dispensed (scheduled,
 * due) pairs only with a new dose inside its own window (from `earlyMinutes` before to
 * `missedAfterMinutes` after its dueAt): the same dose at a nearby time. A dose under way and not
 * dispensed that pairs with nothing — its medication or time left the plan — is cancelled; a
 * dispensed dose is never cancelled (the patient may be taking it). A dose taken or dispensed is
 * never left unpaired for a dose under way and not dispensed: that one makes way (is cancelled).
 */
import type { ExpandedDose } from './expand.js';
import type { DoseState, DoseWindow } from './models.js';

const MINUTE = 60_000;

/** Doses that stand for one of the day's planned doses whatever their distance to it. */
const HAD: readonly DoseState[] = ['taken', 'late', 'skipped'];
/** Doses nothing has decided yet: cancelled when the new plan has no dose near them. */
export const UNDER_WAY: readonly DoseState[] = ['scheduled', 'due'];

export interface StandingDose {
  id: string;
  medicationId: string;
  localDate: string;
  dueAt: Date;
  state: DoseState;
  window: DoseWindow;
  /** When the device dispensed it (null: not dispensed). */
  dispensedAt?: Date | null;
}

export interface Replan {
  /** The planned doses to create (unpaired), in dueAt order. */
  create: ExpandedDose[];
  /** Doses under way, not dispensed, that the new plan no longer has. */
  cancel: StandingDose[];
}

/**
 * `planned`: the new plan's doses over the same span as `standing` (past times included, so that a
 * dose had at 08:00 pairs with 08:00, not with 20:00; the service lays both out from 48 h back).
 */
export function replan(planned: ExpandedDose[], standing: StandingDose[]): Replan {
  const pairedPlanned = new Set<ExpandedDose>();
  const pairedStanding = new Set<StandingDose>();
  /** Which standing dose stands for each paired planned dose. */
  const holder = new Map<ExpandedDose, StandingDose>();
  const pairs = standing.flatMap((dose) =>
    planned.filter((p) => p.medicationId === dose.medicationId && p.localDate === dose.localDate && reaches(dose, p)).map((p) => ({ dose, p, distance: distance(dose, p) })),
  );
  // Nearest first: a dose pairs with the planned dose closest to it that no closer dose took.
  for (const { dose, p } of pairs.sort((a, b) => a.distance - b.distance)) {
    if (pairedPlanned.has(p) || pairedStanding.has(dose)) continue;
    pairedPlanned.add(p);
    pairedStanding.add(dose);
    holder.set(p, dose);
  }
  // A dose taken or dispensed that found every planned dose of its day taken — by doses under way
  // that were nearer (a dose cancelled at 08:00 and dispensed after the 10:00 that replaced it came
  // due) — takes the nearest one a dose under way and not dispensed holds: that one is cancelled
  // instead. Else the day would keep both, and the patient get a second pill the plan does not
  // prescribe. (No planned dose of the day is free then: the had dose reaches every one of them.)
  for (const dose of [...standing].sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())) {
    if (pairedStanding.has(dose) || !pillTaken(dose)) continue;
    let taken: ExpandedDose | null = null;
    for (const [p, other] of holder) {
      if (p.medicationId !== dose.medicationId || p.localDate !== dose.localDate || !cancellable(other)) continue;
      if (!taken || distance(dose, p) < distance(dose, taken)) taken = p;
    }
    if (!taken) continue;
    pairedStanding.delete(holder.get(taken) as StandingDose);
    pairedStanding.add(dose);
    holder.set(taken, dose);
  }
  return {
    create: planned.filter((p) => !pairedPlanned.has(p)),
    cancel: standing.filter((dose) => cancellable(dose) && !pairedStanding.has(dose)),
  };
}

const distance = (dose: StandingDose, planned: ExpandedDose): number => Math.abs(planned.dueAt.getTime() - dose.dueAt.getTime());

/** Had, declined or dispensed: stands for any planned dose of its day. */
const standsForAny = (dose: StandingDose): boolean => HAD.includes(dose.state) || dispensed(dose);

/**
 * Its pill was taken or left the device: it displaces a dose under way when its day has no planned
 * dose left for it. Not a skipped dose: the patient took nothing, and must not lose the day's dose.
 */
const pillTaken = (dose: StandingDose): boolean => dose.state === 'taken' || dose.state === 'late' || dispensed(dose);

/** Under way and not dispensed: cancelled when it stands for no planned dose. */
const cancellable = (dose: StandingDose): boolean => UNDER_WAY.includes(dose.state) && !dispensed(dose);

/** Whether a standing dose may stand for this planned dose (same medication and day, checked by the caller). */
function reaches(dose: StandingDose, planned: ExpandedDose): boolean {
  if (standsForAny(dose)) return true;
  const delta = planned.dueAt.getTime() - dose.dueAt.getTime();
  return delta >= -dose.window.earlyMinutes * MINUTE && delta <= dose.window.missedAfterMinutes * MINUTE;
}

/** Its pills left the device: it stands for a dose of its day like one taken, and is never cancelled. */
function dispensed(dose: StandingDose): boolean {
  return dose.dispensedAt !== null && dose.dispensedAt !== undefined;
}
