/**
 * Runs a caregiver's Socket.IO client in a child process (alert-listener-child.ts)
 * and collects the `alert:raised` it receives, each with its arrival time. In
 * its own process so that the hub's busy event loop never delays the client's
 * clock reading, as on a real phone; timestamps are comparable (wallNow).
 */
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { packageRoot } from '../../../src/paths.js';

export interface Arrival {
  at: number;
  id: string;
  cause: string;
  type: string;
  raisedAt: string;
}

export interface AlertListener {
  readonly arrivals: readonly Arrival[];
  /** Resolves with the arrival of the first `alert:raised` of `cause` after `since` (an index in `arrivals`). */
  waitFor(cause: string, since: number, timeoutMs?: number): Promise<Arrival>;
  /** Resolves once no alert has arrived for `quietMs` (at most `timeoutMs`). */
  waitQuiet(quietMs: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const CHILD = join(packageRoot, 'scripts/bench/lib/alert-listener-child.ts');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startAlertListener(url: string, token: string, startTimeoutMs = 30_000): Promise<AlertListener> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, LISTENER_URL: url, LISTENER_TOKEN: token }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const arrivals: Arrival[] = [];
  let lastArrival = 0;
  let closing = false;
  // Waiters are told on arrival (no polling: the hub runs in this process, and a poll loop would steal its time).
  const waiters = new Set<(arrival: Arrival) => void>();
  let onReady: ((error?: Error) => void) | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = (error) => (error ? reject(error) : resolve());
    setTimeout(() => reject(new Error('the alert listener did not connect in time')), startTimeoutMs).unref();
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as { kind: string; message?: string; reason?: string } & Arrival;
    if (message.kind === 'alert') {
      const arrival = { at: message.at, id: message.id, cause: message.cause, type: message.type, raisedAt: message.raisedAt };
      arrivals.push(arrival);
      lastArrival = performance.now();
      for (const waiter of waiters) waiter(arrival);
    } else if (message.kind === 'ready') onReady?.();
    else if (message.kind === 'error') onReady?.(new Error(`alert listener: ${message.message}`));
    else if (message.kind === 'disconnected' && !closing) console.error(`alert listener disconnected: ${message.reason}`);
  });
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    arrivals,
    waitFor(cause, since, timeoutMs = 10_000) {
      const found = arrivals.slice(since).find((a) => a.cause === cause);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = (arrival: Arrival): void => {
          if (arrival.cause !== cause) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(arrival);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no alert:raised for ${cause} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async waitQuiet(quietMs, timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      const started = performance.now();
      while (performance.now() < deadline && performance.now() - Math.max(lastArrival, started) < quietMs) await sleep(quietMs / 4);
    },
    async close() {
      closing = true;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
