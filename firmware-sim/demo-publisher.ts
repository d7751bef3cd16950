/**
 * For demos on a bare broker, the simulator plays the hub's part and publishes
 * each device's retained schedule (buildDailySchedule: 72 h of doses). Like
 * the hub's daily job it republishes it, with a higher version, every
 * simulated day, so a demo at --speed 3600 does not run out of doses after
 * 75 real seconds. stop() ends the republishing and deletes the retained
 * schedules again.
 */
import mqtt from 'mqtt';
import { HOUR, realDelayUntil, type SimClock } from './clock.js';
import { buildDailySchedule, parseTime } from './demo-schedule.js';
import type { Logger } from './dispenser.js';
import { deviceTopic } from './topics.js';

export interface DemoSchedulesOptions {
  url: string;
  deviceIds: readonly string[];
  clock: SimClock;
  /** Local HH:MM times, one slot per time (slots 1–4, round robin). */
  times: readonly string[];
  timezone?: string;
  username?: string;
  password?: string;
  /** Simulated ms between publications (default: a day, as the hub does). */
  everyMs?: number;
  /** Told about each publication. */
  onPublished?: (info: { version: number; doses: number; devices: number; validUntil: string; first: boolean }) => void;
  logger?: Logger;
}

export interface DemoSchedules {
  /** Version of the latest publication. */
  readonly version: number;
  /** Stops republishing, waits for a publication under way, and deletes the retained schedules. */
  stop(): Promise<void>;
}

/** Demo schedule versions: seconds since 2024, increasing from run to run and within int32 until 2092. */
const demoVersion = (): number => Math.floor((Date.now() - Date.UTC(2024, 0, 1)) / 1000);

const RETRY_MS = 5000;

/** Publishes the first schedules (rejects if that fails) and keeps republishing them. */
export async function startDemoSchedules(options: DemoSchedulesOptions): Promise<DemoSchedules> {
  options.times.forEach(parseTime); // fail early on a typo
  const everyMs = options.everyMs ?? 24 * HOUR;
  const { clock } = options;
  const log = options.logger ?? (() => {});

  const publishAll = async (payload: string): Promise<void> => {
    const client = await mqtt.connectAsync(options.url, {
      protocolVersion: 4,
      clientId: `sim-operator-${process.pid}`,
      ...(options.username ? { username: options.username } : {}),
      ...(options.password ? { password: options.password } : {}),
    });
    try {
      // A bounded window of QoS 1 publishes in flight: fast for ten thousand devices, gentle on the broker.
      const window = 200;
      for (let index = 0; index < options.deviceIds.length; index += window) {
        const batch = options.deviceIds.slice(index, index + window);
        await Promise.all(batch.map((id) => client.publishAsync(deviceTopic(id, 'schedule'), payload, { qos: 1, retain: true })));
      }
    } finally {
      await client.endAsync();
    }
  };

  let version = 0;
  let publishedFrom = 0;
  const publish = async (first: boolean): Promise<void> => {
    const from = clock.now();
    const next = Math.max(version + 1, demoVersion());
    const schedule = buildDailySchedule({
      version: next,
      from,
      timezone: options.timezone ?? 'UTC',
      doses: options.times.map((time, index) => ({ time, slot: (index % 4) + 1, pills: 1 })),
    });
    await publishAll(JSON.stringify(schedule));
    version = next;
    publishedFrom = from;
    options.onPublished?.({ version, doses: schedule.items.length, devices: options.deviceIds.length, validUntil: schedule.validUntil, first });
  };

  await publish(true);

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let underway: Promise<void> = Promise.resolve();
  const arm = (delayMs: number) => {
    timer = setTimeout(tick, Math.min(2 ** 31 - 1, Math.ceil(delayMs)));
    timer.unref(); // the devices, not the demo schedules, keep the process alive
  };
  const tick = () => {
    if (stopped) return;
    const dueAt = publishedFrom + everyMs;
    if (clock.now() < dueAt) return arm(realDelayUntil(clock, dueAt));
    underway = publish(false).then(
      () => {
        if (!stopped) arm(realDelayUntil(clock, publishedFrom + everyMs));
      },
      (error: unknown) => {
        log('warn', 'demo schedule republish failed; retrying', { err: String(error) });
        if (!stopped) arm(RETRY_MS);
      },
    );
  };
  arm(realDelayUntil(clock, publishedFrom + everyMs));

  return {
    get version() {
      return version;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await underway;
      // A zero-length retained message deletes the broker's copy.
      await publishAll('');
    },
  };
}
