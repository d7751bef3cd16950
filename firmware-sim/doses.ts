/**
 * Follows the applied schedule offline, like the firmware would: dispense at
 * dueAt, watch the tray, report dose.taken / dose.skipped, or dose.missed once
 * the window closes. What the patient does is the scenario's decision; what
 * the device can observe and report is decided here.
 *
 * Everything runs on the device clock (simulated time plus the device's skew):
 * a device whose clock is 40 minutes fast dispenses a 07:00 dose at 06:20
 * simulated time, and says 07:00. Each event carries the instant it happened
 * at, the one its task was scheduled for, not the moment a lagging timer got
 * round to it.
 *
 * What the device did with each dose of its schedule (dispensed, failed,
 * closed) is kept (records()/restore()), like a firmware keeps it in flash, so
 * a restart does not dispense a dose again.
 */
import type { Agenda } from './agenda.js';
import { MINUTE, type SimClock } from './clock.js';
import type { Slots } from './hardware.js';
import type { Random } from './random.js';
import type { DoseOutcome, DosePlan, Scenario } from './scenarios.js';
import type { CommandAck, DeviceSchedule, DispenseNowCommand, EventDraft, ScheduleItem } from './payloads.js';

export interface DoseHost {
  /** The device clock: doses fall due by it, and events are stamped with it. */
  clock: SimClock;
  /** An agenda on that same clock. */
  agenda: Agenda;
  random: Random;
  scenario: Scenario;
  slots: Slots;
  /** Queues an event that happened at `at` (device clock, epoch ms). */
  emit(event: EventDraft, at: number): void;
  goOffline(durationMs: number): void;
  /** What the device remembers about its doses changed (to persist it). */
  changed(): void;
}

/** How a dose event names its dose on the wire. */
interface DoseRef {
  dueAt?: string;
  occurrenceId?: string;
  commandId?: string;
}

/** planned → dispensed (pills in the tray) | failed (could not dispense) → closed. */
type DoseState = 'planned' | 'dispensed' | 'failed' | 'closed';

/** What a device remembers of a scheduled dose it acted on, across restarts. */
export interface DoseRecord {
  /** doseKey(slot, dueAt). */
  key: string;
  state: Exclude<DoseState, 'planned'>;
  /** Device-clock instant the pills were dispensed (state `dispensed`). */
  dispensedAt?: number;
  /** What the patient will do about the pills in the tray (state `dispensed`). */
  outcome?: DoseOutcome;
}

interface Dose {
  key: string;
  slot: number;
  pills: number;
  ref: DoseRef;
  /** Device-clock instant the dose is due (the command's arrival for dispense_now). */
  dueMs: number;
  window: ScheduleItem['window'];
  plan: DosePlan;
  state: DoseState;
  dispensedAt?: number;
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
    this.host.changed();
  }

  /**
   * After a restart: follows the schedule the device had applied, knowing what it
   * already did. A dose recorded as dispensed is not dispensed again (its pills are
   * in the tray: it ends as planned, or missed if its window closed meanwhile); a
   * dose recorded as closed stays closed; the others are planned as usual.
   */
  restore(schedule: DeviceSchedule, records: readonly DoseRecord[]): void {
    const recorded = new Map(records.map((record) => [record.key, record]));
    const now = this.host.clock.now();
    for (const item of schedule.items) {
      const key = doseKey(item.slot, item.dueAt);
      if (this.doses.has(key)) continue;
      const record = recorded.get(key);
      if (!record) {
        this.plan(key, item);
        continue;
      }
      const dose = this.doseOf(key, item, { outcome: record.outcome ?? { kind: 'ignore' } });
      dose.state = record.state;
      if (record.dispensedAt !== undefined) dose.dispensedAt = record.dispensedAt;
      this.doses.set(key, dose);
      // What fell due while the device was off is noticed now, at boot.
      if (dose.state === 'dispensed') this.followUp(dose, now);
      else if (dose.state === 'failed') this.missAtWindowEnd(dose, 'dispense_failed', now);
    }
  }

  /** The scheduled doses the device acted on, for restore(). */
  records(): DoseRecord[] {
    const records: DoseRecord[] = [];
    for (const dose of this.doses.values()) {
      if (dose.state === 'planned' || dose.ref.commandId) continue;
      const record: DoseRecord = { key: dose.key, state: dose.state };
      if (dose.state === 'dispensed') {
        if (dose.dispensedAt !== undefined) record.dispensedAt = dose.dispensedAt;
        record.outcome = dose.plan.outcome;
      }
      records.push(record);
    }
    return records;
  }

  /** The patient pressed "dispense": the next dose, if its early window is open. */
  dispenseEarly(): boolean {
    const now = this.host.clock.now();
    const next = [...this.doses.values()]
      .filter((dose) => dose.state === 'planned' && dose.dueMs - dose.window.earlyMinutes * MINUTE <= now)
      .sort((a, b) => a.dueMs - b.dueMs)[0];
    if (!next || !this.host.slots.take(next.slot, next.pills)) return false;
    this.dispensed(next, 'button', now);
    return true;
  }

  /** The patient pressed "skip": the dose waiting in the tray, if any. */
  skipWaiting(): boolean {
    const waiting = [...this.doses.values()].find((dose) => dose.state === 'dispensed');
    if (!waiting) return false;
    this.close(waiting);
    this.host.emit({ type: 'dose.skipped', slot: waiting.slot, pills: waiting.pills, ...waiting.ref }, this.host.clock.now());
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
      this.host.emit({ type: 'device.jam', slot, ...ref }, now);
      return { status: 'failed', error: { code: 'jammed', message: `slot ${slot} jammed` } };
    }
    if (!this.host.slots.take(slot, pills)) {
      const message = `slot ${slot} holds ${this.host.slots.count(slot)} pills, ${pills} requested`;
      return { status: 'failed', error: { code: 'slot_empty', message } };
    }
    const dose: Dose = { key: `cmd:${command.commandId}`, slot, pills, ref, dueMs: now, window: COMMAND_WINDOW, plan, state: 'planned', cancels: [] };
    this.doses.set(dose.key, dose);
    this.dispensed(dose, 'command', now);
    return { status: 'succeeded' };
  }

  /** Forgets every dose (in memory: what records() gave is not touched), e.g. when the simulator stops. */
  clear(): void {
    for (const dose of this.doses.values()) dose.cancels.forEach((cancel) => cancel());
    this.doses.clear();
  }

  private doseOf(key: string, item: ScheduleItem, plan: DosePlan): Dose {
    const ref: DoseRef = { dueAt: item.dueAt, ...(item.occurrenceId ? { occurrenceId: item.occurrenceId } : {}) };
    const dueMs = Date.parse(item.dueAt);
    return { key, slot: item.slot, pills: item.pills, ref, dueMs, window: item.window, plan, state: 'planned', cancels: [] };
  }

  private plan(key: string, item: ScheduleItem): void {
    const now = this.host.clock.now();
    const dueMs = Date.parse(item.dueAt);
    // A dose whose window closed before the device learned of it was never watched: say nothing.
    if (dueMs + item.window.missedAfterMinutes * MINUTE <= now) return;
    const dose = this.doseOf(key, item, this.host.scenario.planDose(item, this.host.random));
    const { plan } = dose;
    this.doses.set(key, dose);
    const { agenda } = this.host;
    if (plan.offline && dueMs + plan.offline.startOffsetMs > now) {
      const { durationMs } = plan.offline;
      dose.cancels.push(agenda.at(dueMs + plan.offline.startOffsetMs, () => this.host.goOffline(durationMs)));
    }
    // A dose already due when the device learns of it (its window still open) is dispensed now, and says so.
    dose.cancels.push(agenda.at(Math.max(dueMs, now), (at) => this.due(dose, at)));
  }

  private due(dose: Dose, at: number): void {
    if (dose.state !== 'planned') return;
    const { slots } = this.host;
    if (dose.plan.outcome.kind === 'jam') {
      this.host.emit({ type: 'device.jam', slot: dose.slot, ...dose.ref }, at);
      this.missAtWindowEnd(dose, 'dispense_failed');
    } else if (!slots.take(dose.slot, dose.pills)) {
      this.missAtWindowEnd(dose, 'dispense_failed');
    } else {
      this.dispensed(dose, 'schedule', at);
    }
  }

  private dispensed(dose: Dose, trigger: 'schedule' | 'button' | 'command', at: number): void {
    dose.state = 'dispensed';
    dose.dispensedAt = at;
    const { slot, pills } = dose;
    this.host.emit({ type: 'dose.dispensed', slot, pills, trigger, ...dose.ref }, at);
    if (this.host.slots.becameLow(slot)) {
      const threshold = this.host.slots.refillThreshold;
      this.host.emit({ type: 'refill.low', slot, pills: this.host.slots.count(slot), threshold }, at);
    }
    this.followUp(dose, at);
    this.host.changed();
  }

  /** Pills in the tray: the patient takes or skips them as planned, or the window closes. Nothing happens before `notBefore`. */
  private followUp(dose: Dose, notBefore: number): void {
    const { outcome } = dose.plan;
    // A window that closed while the device was off (a restart) ends in dose.missed: nobody took
    // the pills while it could not see them, and a take scheduled at the same instant would win.
    const windowOpen = notBefore < dose.dueMs + dose.window.missedAfterMinutes * MINUTE;
    if (windowOpen && (outcome.kind === 'take' || outcome.kind === 'skip')) {
      const takeAt = Math.max(notBefore, dose.dispensedAt ?? notBefore, dose.dueMs + outcome.afterMs);
      dose.cancels.push(
        this.host.agenda.at(takeAt, (at) => {
          if (dose.state !== 'dispensed') return;
          this.close(dose);
          const type = outcome.kind === 'take' ? 'dose.taken' : 'dose.skipped';
          this.host.emit({ type, slot: dose.slot, pills: dose.pills, ...dose.ref }, at);
        }),
      );
    }
    this.missAtWindowEnd(dose, 'not_taken', notBefore);
  }

  private missAtWindowEnd(dose: Dose, reason: 'not_taken' | 'dispense_failed', notBefore = -Infinity): void {
    if (reason === 'dispense_failed' && dose.state !== 'failed') {
      dose.state = 'failed';
      this.host.changed();
    }
    const missAt = Math.max(notBefore, dose.dueMs + dose.window.missedAfterMinutes * MINUTE);
    dose.cancels.push(
      this.host.agenda.at(missAt, (at) => {
        if (dose.state !== 'dispensed' && dose.state !== 'failed') return;
        this.close(dose);
        this.host.emit({ type: 'dose.missed', slot: dose.slot, pills: dose.pills, reason, ...dose.ref }, at);
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
    else this.host.changed();
  }
}
