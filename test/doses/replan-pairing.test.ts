/**
 * The pairing of a rebuild (src/features/doses/replan.ts), a pure function: which doses of a day
 * stand for the new plan's doses, which are created and which cancelled. The whole rebuild, with a
 * hub, is tested in plan-changes, dispensed-plan-change and revival-replan.
 */
import t from 'tap';
import type { ExpandedDose } from '../../src/features/doses/expand.js';
import type { DoseState } from '../../src/features/doses/models.js';
import { replan, type StandingDose } from '../../src/features/doses/replan.js';

const window = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 60 };
const day = '2026-06-10';
const planned = (time: string): ExpandedDose => ({ itemId: 'daily', medicationId: 'metformin', dueAt: new Date(`${day}T${time}:00Z`), localDate: day });
const standing = (id: string, time: string, state: DoseState, dispensedAt: Date | null = null): StandingDose => ({ id, medicationId: 'metformin', localDate: day, dueAt: new Date(`${day}T${time}:00Z`), state, window, dispensedAt });

t.test('a day cut to one evening dose: a morning pill taken makes the evening dose under way go; a morning dose declined does not', async (t) => {
  const evening = planned('20:00');
  const taken = replan([evening], [standing('morning', '08:00', 'taken'), standing('evening', '20:00', 'scheduled')]);
  t.same(taken.cancel.map((dose) => dose.id), ['evening'], 'taken in the morning: the evening dose would be a second pill');
  t.same(taken.create, []);

  const declined = replan([evening], [standing('morning', '08:00', 'skipped'), standing('evening', '20:00', 'scheduled')]);
  t.same(declined.cancel, [], 'declined in the morning: nobody took a pill, the evening dose stays');
  t.same(declined.create, []);

  const dispensed = replan([evening], [standing('morning', '08:00', 'unknown', new Date(`${day}T08:01:00Z`)), standing('evening', '20:00', 'scheduled')]);
  t.same(dispensed.cancel.map((dose) => dose.id), ['evening'], 'dispensed in the morning: its pills left the device');
});
