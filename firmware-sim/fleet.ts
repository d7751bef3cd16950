/**
 * Many simulated dispensers in one process, for demos and load benchmarks.
 * Devices share one clock and one ack log; connects are staggered (device n
 * starts n / rate seconds after the first) so a fleet of ten thousand does not
 * hit the broker in the same instant; everything a device holds is bounded,
 * and nothing heavy is held per device.
 */
import { AckLog } from './ack-log.js';
import type { BackoffOptions } from './backoff.js';
import { createSimClock, type SimClock } from './clock.js';
import type { DeviceCredentials } from './credentials.js';
import { SimulatedDispenser, type DispenserStats, type Logger } from './dispenser.js';
import type { SlotsOptions } from './hardware.js';
import { deviceSeed } from './random.js';
import { createScenario, type ScenarioName, type ScenarioOptions } from './scenarios.js';
import { join } from 'node:path';

export interface FleetOptions {
  url: string;
  credentials: readonly DeviceCredentials[];
  scenario?: ScenarioName;
  scenarioOptions?: ScenarioOptions;
  /** Shared clock; or give speed/startAt and one is made. */
  clock?: SimClock;
  speed?: number;
  startAt?: number;
  seed?: number;
  heartbeatSeconds?: number;
  keepaliveSeconds?: number;
  /** Devices started per real second (default 200): device n starts n / rate seconds after the first. */
  connectRatePerSecond?: number;
  /** Directory for one persisted outbox file per device. */
  outboxDir?: string;
  outboxCapacity?: number;
  /** One JSONL ack log for the whole fleet. */
  ackLogPath?: string;
  slots?: SlotsOptions;
  firmwareVersion?: string;
  backoff?: BackoffOptions;
  logger?: Logger;
}

export interface FleetStats extends Omit<DispenserStats, 'id' | 'connected' | 'appliedScheduleVersion'> {
  devices: number;
  started: number;
  connected: number;
  /** Connections beyond each device's first. */
  reconnects: number;
}

export interface Fleet {
  readonly devices: readonly SimulatedDispenser[];
  readonly clock: SimClock;
  /** Resolves once every device has been started (connections are under way). */
  readonly started: Promise<void>;
  stats(): FleetStats;
  /** Acknowledged eventIds per device id. */
  acknowledgedEventIds(): Map<string, string[]>;
  /** Stops every device (cleanly by default) and closes the ack log. */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

export function startFleet(options: FleetOptions): Fleet {
  const clock = options.clock ?? createSimClock({ speed: options.speed ?? 1, ...(options.startAt !== undefined ? { startAt: options.startAt } : {}) });
  const ackLog = options.ackLogPath ? new AckLog(options.ackLogPath) : undefined;
  const seed = options.seed ?? 1;
  // Scenarios are stateless (each device brings its own random source), so one serves all.
  const scenario = createScenario(options.scenario ?? 'adherent', options.scenarioOptions);
  const devices = options.credentials.map(
    (credentials) =>
      new SimulatedDispenser({
        id: credentials.id,
        ...(credentials.secret !== undefined ? { secret: credentials.secret } : {}),
        url: options.url,
        clock,
        scenario,
        seed: deviceSeed(seed, credentials.id),
        ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
        ...(options.keepaliveSeconds !== undefined ? { keepaliveSeconds: options.keepaliveSeconds } : {}),
        outbox: {
          ...(options.outboxCapacity !== undefined ? { capacity: options.outboxCapacity } : {}),
          ...(options.outboxDir ? { file: join(options.outboxDir, `${credentials.id}.json`) } : {}),
        },
        ...(ackLog ? { ackLog } : {}),
        ...(options.slots ? { slots: options.slots } : {}),
        ...(options.firmwareVersion ? { firmwareVersion: options.firmwareVersion } : {}),
        ...(options.backoff ? { backoff: options.backoff } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      }),
  );
  let stopping = false;
  let startedCount = 0;
  const rate = options.connectRatePerSecond ?? 200;
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`connectRatePerSecond must be a positive number, got ${rate}`);
  const intervalMs = 1000 / rate;

  async function startStaggered(): Promise<void> {
    const t0 = Date.now();
    let index = 0;
    while (index < devices.length && !stopping) {
      // Every device whose turn has come (a timer that fired late catches up), but never one early.
      const due = Math.min(devices.length, Math.floor((Date.now() - t0) / intervalMs) + 1);
      const batch = devices.slice(index, Math.max(due, index + 1));
      await Promise.all(batch.map((device) => device.start()));
      index += batch.length;
      startedCount = index;
      if (index < devices.length) {
        const wait = t0 + index * intervalMs - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
      }
    }
  }
  const started = startStaggered();
  started.catch(() => {}); // surfaced to whoever awaits fleet.started

  return {
    devices,
    clock,
    started,
    stats: () => sumStats(devices, startedCount),
    acknowledgedEventIds: () => new Map(devices.map((device) => [device.id, device.acknowledgedEventIds()])),
    async stop({ graceful = true } = {}) {
      stopping = true;
      await started.catch(() => {});
      await Promise.all(devices.map((device) => device.stop({ graceful })));
      await ackLog?.close();
    },
  };
}

function sumStats(devices: readonly SimulatedDispenser[], started: number): FleetStats {
  const total: FleetStats = {
    devices: devices.length,
    started,
    connected: 0,
    reconnects: 0,
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
    eventsQueued: 0,
    eventsAcked: 0,
    acksQueued: 0,
    acksDelivered: 0,
    heartbeats: 0,
    hubErrors: 0,
    outboxSize: 0,
    outboxDropped: 0,
  };
  for (const device of devices) {
    const { id: _id, connected, appliedScheduleVersion: _version, ...counts } = device.stats();
    if (connected) total.connected++;
    total.reconnects += Math.max(0, counts.connects - 1);
    for (const key of Object.keys(counts) as (keyof typeof counts)[]) total[key] += counts[key];
  }
  return total;
}
