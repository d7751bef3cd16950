/**
 * How a simulated patient (and device) behaves around each scheduled dose.
 * A scenario only decides; the dispenser carries the decision out. Decisions
 * are drawn from the device's seeded random source, so runs are reproducible.
 */
import { MINUTE, HOUR } from './clock.js';
import { chance, uniform, type Random } from './random.js';
import type { ScheduleItem } from './payloads.js';

export type ScenarioName = 'adherent' | 'forgetful' | 'offline-spells' | 'jammy';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['adherent', 'forgetful', 'offline-spells', 'jammy'];

/** What happens once the dose is due. Offsets are simulated ms after dueAt. */
export type DoseOutcome =
  | { kind: 'take'; afterMs: number }
  | { kind: 'skip'; afterMs: number }
  | { kind: 'ignore' }
  | { kind: 'jam' };

export interface DosePlan {
  outcome: DoseOutcome;
  /** Lose the network for a while around the dose (simulated ms, start relative to dueAt). */
  offline?: { startOffsetMs: number; durationMs: number };
}

export interface ScenarioOptions {
  /** forgetful: share of doses never taken. */
  missRate?: number;
  /** forgetful: share of the remaining doses taken late. */
  lateRate?: number;
  /** offline-spells: share of doses with a network outage around them. */
  offlineRate?: number;
  /** jammy: share of doses where the slot jams. */
  jamRate?: number;
}

export interface Scenario {
  readonly name: ScenarioName;
  planDose(item: ScheduleItem, random: Random): DosePlan;
}

/** On time: within the first five minutes, never past the late threshold. */
function onTime(item: ScheduleItem, random: Random): DoseOutcome {
  const latestMs = Math.min(5 * MINUTE, item.window.lateAfterMinutes * MINUTE);
  return { kind: 'take', afterMs: uniform(random, 0, latestMs) };
}

/** Late: after the late threshold but before the device gives up on the dose. */
function late(item: ScheduleItem, random: Random): DoseOutcome {
  const from = item.window.lateAfterMinutes * MINUTE;
  const to = item.window.missedAfterMinutes * MINUTE;
  return { kind: 'take', afterMs: uniform(random, from, Math.max(from, to - MINUTE)) };
}

const rate = (value: number | undefined, fallback: number): number => Math.min(1, Math.max(0, value ?? fallback));

export function createScenario(name: ScenarioName, options: ScenarioOptions = {}): Scenario {
  switch (name) {
    case 'adherent':
      return { name, planDose: (item, random) => ({ outcome: onTime(item, random) }) };
    case 'forgetful': {
      const missRate = rate(options.missRate, 0.3);
      const lateRate = rate(options.lateRate, 0.3);
      return {
        name,
        planDose(item, random) {
          if (chance(random, missRate)) return { outcome: { kind: 'ignore' } };
          return { outcome: chance(random, lateRate) ? late(item, random) : onTime(item, random) };
        },
      };
    }
    case 'offline-spells': {
      const offlineRate = rate(options.offlineRate, 0.5);
      return {
        name,
        planDose(item, random) {
          const plan: DosePlan = { outcome: onTime(item, random) };
          if (chance(random, offlineRate)) {
            plan.offline = { startOffsetMs: -uniform(random, 0, 30 * MINUTE), durationMs: uniform(random, 0.5 * HOUR, 3 * HOUR) };
          }
          return plan;
        },
      };
    }
    case 'jammy': {
      const jamRate = rate(options.jamRate, 0.2);
      return {
        name,
        planDose: (item, random) => ({ outcome: chance(random, jamRate) ? { kind: 'jam' } : onTime(item, random) }),
      };
    }
  }
}

export function isScenarioName(value: string): value is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(value);
}
