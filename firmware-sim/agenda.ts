/**
 * A device's to-do list on its clock: run a task at an instant of that clock
 * (the dispenser gives it the device clock, simulated time plus skew). One real
 * timer per device, armed for the earliest task, keeps a fleet of thousands of
 * devices cheap, and re-reading the clock when the timer fires keeps it right
 * with any clock, including one a test moves by hand.
 *
 * A task is handed the instant it was scheduled for: a timer fires late when
 * the event loop lags (at --speed 60 a 2 s stall is 2 simulated minutes), and
 * what the task does happened at its instant, not at the lagging timer's.
 */
import { realDelayUntil, type SimClock } from './clock.js';

interface Task {
  at: number;
  seq: number;
  run: (at: number) => void;
}

/** setTimeout's limit; longer waits are done in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Agenda {
  private tasks: Task[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly onError: (error: unknown) => void,
  ) {}

  get size(): number {
    return this.tasks.length;
  }

  /** Runs `run(at)` once the clock reaches `at`; returns a cancel function. */
  at(at: number, run: (at: number) => void): () => void {
    const task: Task = { at, seq: this.seq++, run };
    const index = this.tasks.findIndex((other) => other.at > at);
    if (index === -1) this.tasks.push(task);
    else this.tasks.splice(index, 0, task);
    if (this.tasks[0] === task) this.arm();
    return () => this.cancel(task);
  }

  clear(): void {
    this.tasks = [];
    this.disarm();
  }

  /** The clock jumped (the device's was set): re-reads it for the next task. */
  refresh(): void {
    this.arm();
  }

  private cancel(task: Task): void {
    const index = this.tasks.indexOf(task);
    if (index === -1) return;
    this.tasks.splice(index, 1);
    if (index === 0) this.arm();
  }

  private arm(): void {
    this.disarm();
    const next = this.tasks[0];
    if (!next) return;
    const delay = Math.min(MAX_TIMER_MS, Math.ceil(realDelayUntil(this.clock, next.at)));
    this.timer = setTimeout(() => this.runDue(), delay);
    // The MQTT socket, not a pending dose, is what should keep a process alive.
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private runDue(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.tasks[0] && this.tasks[0].at <= now) {
      const task = this.tasks.shift() as Task;
      try {
        task.run(task.at);
      } catch (error) {
        this.onError(error);
      }
    }
    if (!this.timer) this.arm();
  }
}
