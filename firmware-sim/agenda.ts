/**
 * A device's to-do list in simulated time: run a task at a simulated instant.
 * One real timer per device, armed for the earliest task, keeps a fleet of
 * thousands of devices cheap, and re-reading the clock when the timer fires
 * keeps it right with any clock, including one a test moves by hand.
 */
import { realDelayUntil, type SimClock } from './clock.js';

interface Task {
  at: number;
  seq: number;
  run: () => void;
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

  /** Runs `run` once the simulated clock reaches `at`; returns a cancel function. */
  at(at: number, run: () => void): () => void {
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
        task.run();
      } catch (error) {
        this.onError(error);
      }
    }
    if (!this.timer) this.arm();
  }
}
