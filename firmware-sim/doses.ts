/**
 * Follows the applied schedule offline, like the firmware would: dispense at
 * dueAt, watch the tray, report dose.taken / dose.skipped, or dose.missed once
 * the window closes. What the patient does is the scenario's decision; what
 * the device can observe and report is decided here.
 */
import type { Agenda } from './agenda.js';
import { MINUTE, type SimClock } from './clock.js';
import type { Slots } from './hardware.js';
import type { Random } from './random.js';
import type { DosePlan, Scenario } from './scenarios.js';
import type { CommandAck, DeviceSchedule, DispenseNowCommand, EventDraft, ScheduleItem } from './payloads.js';

export interface DoseHost {
  clock: SimClock;
  agenda: Agenda;
  random: Random;
  scenario: Scenario;
  slots: Slots;
  emit(event: EventDraft): void;
  goOffline(simDurationMs: number): void;
}

/** How a dose event names its dose on the wire. */
interface DoseRef {
  dueAt?: string;
  occurrenceId?: string;
  commandId?: string;
}

/** planned → dispensed (pills in the tray) | failed (could not dispense) → closed. */
type DoseState = 'planned' | 'dispensed' | 'failed' | 'closed';

interface Dose {
  key: string;
  slot: number;
  pills: number;
  ref: DoseRef;
  /** Simulated instant the dose is due (the command's arrival for dispense_now). */
  dueMs: number;
  window: ScheduleItem['window'];
  plan: DosePlan;
  state: DoseState;
  cancels: (() => void)[];
}

/** Window for doses dispensed on command, which carry none. */
const COMMAND_WINDOW: ScheduleItem['window'] = { earlyMinutes: 0, lateAfterMinutes: 30, missedAfterMinutes: 120 };

export const doseKey = (slot: number, dueAt: string): string => `${slot}@${Date.parse(dueAt)}`;

export type DispenseOutcome = Pick<CommandAck, 'status' | 'error'>;

export class DoseTracker {
  private readonly doses = new Map<string, Dose>();

  constructor(private readonly host: DoseHost) {}

  /** Doses that are planned or waiting in the tray. */
  get open(): number {
    let count = 0;
    for (const dose of this.doses.values()) if (dose.state !== 'closed') count++;
    return count;
  }

  /**
   * Follows a new schedule. Doses already dispensed keep their course (the pills
   * are in the tray); planned doses no longer listed are dropped; doses listed
   * again keep their plan, so a republished schedule changes nothing.
   */
  apply(schedule: DeviceSchedule): void {
    const listed = new Map(schedule.items.map((item) => [doseKey(item.slot, item.dueAt), item]));
    for (const [key, dose] of this.doses) {
      if (listed.has(key)) continue;
      // A dose already dispensed or failed still owes its outcome report.
      if (dose.state === 'dispensed' || dose.state === 'failed') continue;
      dose.cancels.forEach((cancel) => cancel());
      this.doses.delete(key);
    }
    for (const [key, item] of listed) if (!this.doses.has(key)) this.plan(key, item);
  }

  /** The patient pressed "dispense": the next dose, if its early window is open. */
  dispenseEarly(): boolean {
    const now = this.host.clock.now();
    const next = [...this.doses.values()]
      .filter((dose) => dose.state === 'planned' && dose.dueMs - dose.window.earlyMinutes * MINUTE <= now)
      .sort((a, b) => a.dueMs - b.dueMs)[0];
    if (!next || !this.host.slots.take(next.slot, next.pills)) return false;
    this.dispensed(next, 'button');
    return true;
  }

  /** The patient pressed "skip": the dose waiting in the tray, if any. */
  skipWaiting(): boolean {
    const waiting = [...this.doses.values()].find((dose) => dose.state === 'dispensed');
    if (!waiting) return false;
    this.close(waiting);
    this.host.emit({ type: 'dose.skipped', slot: waiting.slot, pills: waiting.pills, ...waiting.ref });
    return true;
  }

  /** Carries out a dispense_now command and tells how it went, for the ack. */
  dispenseOnCommand(command: DispenseNowCommand): DispenseOutcome {
    const { slot, pills, occurrenceId } = command.params;
    if (!this.host.slots.has(slot)) return { status: 'rejected', error: { code: 'invalid_slot', message: `no slot ${slot}` } };
    const ref: DoseRef = { commandId: command.commandId, ...(occurrenceId ? { occurrenceId } : {}) };
    const now = this.host.clock.now();
    const item: ScheduleItem = { slot, pills, dueAt: new Date(now).toISOString(), window: COMMAND_WINDOW };
    const plan = this.host.scenario.planDose(item, this.host.random);
    delete plan.offline; // an outage is scheduled around planned doses only
    if (plan.outcome.kind === 'jam') {
      this.host.emit({ type: 'device.jam', slot, ...ref });
      return { status: 'failed', error: { code: 'jammed', message: `slot ${slot} jammed` } };
    }
    if (!this.host.slots.take(slot, pills)) {
      const message = `slot ${slot} holds ${this.host.slots.count(slot)} pills, ${pills} requested`;
      return { status: 'failed', error: { code: 'slot_empty', message } };
    }
    const dose: Dose = { key: `cmd:${command.commandId}`, slot, pills, ref, dueMs: now, window: COMMAND_WINDOW, plan, state: 'planned', cancels: [] };
    this.doses.set(dose.key, dose);
    this.dispensed(dose, 'command');
    return { status: 'succeeded' };
  }

  /** Forgets every dose, e.g. when the device reboots. */
  clear(): void {
    for (const dose of this.doses.values()) dose.cancels.forEach((cancel) => cancel());
    this.doses.clear();
  }

  private plan(key: string, item: ScheduleItem): void {
    const now = this.host.clock.now();
    const dueMs = Date.parse(item.dueAt);
    // A dose whose window closed before the device learned of it was never watched: say nothing.
    if (dueMs + item.window.missedAfterMinutes * MINUTE <= now) return;
    const ref: DoseRef = { dueAt: item.dueAt, ...(item.occurrenceId ? { occurrenceId: item.occurrenceId } : {}) };
    const plan = this.host.scenario.planDose(item, this.host.random);
    const dose: Dose = { key, slot: item.slot, pills: item.pills, ref, dueMs, window: item.window, plan, state: 'planned', cancels: [] };
    this.doses.set(key, dose);
    const { agenda } = this.host;
    if (plan.offline && dueMs + plan.offline.startOffsetMs > now) {
      const { durationMs } = plan.offline;
      dose.cancels.push(agenda.at(dueMs + plan.offline.startOffsetMs, () => this.host.goOffline(durationMs)));
    }
    dose.cancels.push(agenda.at(dueMs, () => this.due(dose)));
  }

  private due(dose: Dose): void {
    if (dose.state !== 'planned') return;
    const { slots } = this.host;
    if (dose.plan.outcome.kind === 'jam') {
      this.host.emit({ type: 'device.jam', slot: dose.slot, ...dose.ref });
      this.missAtWindowEnd(dose, 'dispense_failed');
    } else if (!slots.take(dose.slot, dose.pills)) {
      this.missAtWindowEnd(dose, 'dispense_failed');
    } else {
      this.dispensed(dose, 'schedule');
    }
  }

  private dispensed(dose: Dose, trigger: 'schedule' | 'button' | 'command'): void {
    dose.state = 'dispensed';
    const { slot, pills } = dose;
    this.host.emit({ type: 'dose.dispensed', slot, pills, trigger, ...dose.ref });
    if (this.host.slots.becameLow(slot)) {
      const threshold = this.host.slots.refillThreshold;
      this.host.emit({ type: 'refill.low', slot, pills: this.host.slots.count(slot), threshold });
    }
    const { outcome } = dose.plan;
    if (outcome.kind === 'take' || outcome.kind === 'skip') {
      const at = Math.max(this.host.clock.now(), dose.dueMs + outcome.afterMs);
      dose.cancels.push(
        this.host.agenda.at(at, () => {
          if (dose.state !== 'dispensed') return;
          this.close(dose);
          const type = outcome.kind === 'take' ? 'dose.taken' : 'dose.skipped';
          this.host.emit({ type, slot, pills, ...dose.ref });
        }),
      );
    }
    this.missAtWindowEnd(dose, 'not_taken');
  }

  private missAtWindowEnd(dose: Dose, reason: 'not_taken' | 'dispense_failed'): void {
    if (reason === 'dispense_failed') dose.state = 'failed';
    const missAt = dose.dueMs + dose.window.missedAfterMinutes * MINUTE;
    dose.cancels.push(
      this.host.agenda.at(missAt, () => {
        if (dose.state !== 'dispensed' && dose.state !== 'failed') return;
        this.close(dose);
        this.host.emit({ type: 'dose.missed', slot: dose.slot, pills: dose.pills, reason, ...dose.ref });
      }),
    );
  }

  private close(dose: Dose): void {
    dose.state = 'closed';
    dose.cancels.forEach((cancel) => cancel());
    dose.cancels = [];
    // A scheduled dose is remembered while its schedule lists it (so a republish does
    // not dispense it again); a commanded one is never listed, so forget it now.
    if (dose.ref.commandId) this.doses.delete(dose.key);
  }
}
