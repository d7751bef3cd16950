/**
 * npm run sim -- --devices 50 --url mqtt://127.0.0.1:1883 --credentials creds.json --scenario forgetful --speed 60
 *
 * Runs a fleet of simulated dispensers until Ctrl-C (or --duration), printing
 * a one-line summary every few seconds. See firmware-sim/README.md.
 */
import { parseArgs } from 'node:util';
import { isoInstant } from './clock.js';
import { generatedCredentials, readCredentialsFile, writeCredentialsFile, type DeviceCredentials } from './credentials.js';
import { startDemoSchedules } from './demo-publisher.js';
import type { Logger, LogLevel } from './dispenser.js';
import { startFleet, type Fleet, type FleetStats } from './fleet.js';
import { credentialsOf, liveMqttUrl, provisionDevices } from './provision.js';
import { isScenarioName, SCENARIO_NAMES, type ScenarioOptions } from './scenarios.js';

const HELP = `Usage: npm run sim -- [options]

Devices (pick one source):
  --credentials FILE      JSON array of { "id", "secret" }
  --hub-url URL           provision through POST {hub}/api/v1/devices (needs --token or MEDHUB_TOKEN)
     --token TOKEN  --serial-prefix SIM  --patient-id ID  --save-credentials FILE
  (neither)               made-up ids sim-00001… without password, for an anonymous broker
  --devices N             how many (default 1; with --credentials, the first N, default all)
  --id-prefix STR         prefix of made-up ids (default sim-)

Broker and behaviour:
  --url URL               broker (default mqtt://127.0.0.1:1883, or the one provisioning returns)
  --scenario NAME         ${SCENARIO_NAMES.join(' | ')} (default adherent)
  --miss-rate R --late-rate R --offline-rate R --jam-rate R   scenario knobs, 0..1
  --speed N               simulated seconds per real second for doses (default 1)
  --start ISO             simulated start instant (default now)
  --seed N                seed for reproducible runs (default 1)
  --heartbeat S           real seconds between heartbeats (default 60)
  --keepalive S           MQTT keepalive (default 60)
  --connect-rate N        devices started per second, evenly spaced (default 200)
  --outbox-size N         events/acks kept per device while unacknowledged (default 1000)
  --outbox-dir DIR        persist each device's outbox to DIR/<id>.json, and its schedule, dose
                          progress and slot levels to DIR/<id>.state.json (a restart carries on)
  --ack-log FILE          append one JSON line per PUBACKed event

Without a hub:
  --demo-schedule LIST    publish retained schedules yourself, e.g. 08:00,13:00,20:00 (one slot per time),
                          72 h ahead, republished every simulated day; cleared from the broker again on exit
  --timezone TZ           zone of those times (default UTC)
  --operator-username U --operator-password P   credentials allowed to publish them

Output and lifetime:
  --summary-every S       seconds between summary lines (default 5)
  --duration S            stop after S real seconds (default: until Ctrl-C)
  --log-level LEVEL       error | warn | info | debug (default warn)
  --help
`;

const options = {
  devices: { type: 'string' },
  url: { type: 'string' },
  credentials: { type: 'string' },
  'hub-url': { type: 'string' },
  token: { type: 'string' },
  'serial-prefix': { type: 'string' },
  'patient-id': { type: 'string' },
  'save-credentials': { type: 'string' },
  'id-prefix': { type: 'string' },
  scenario: { type: 'string' },
  'miss-rate': { type: 'string' },
  'late-rate': { type: 'string' },
  'offline-rate': { type: 'string' },
  'jam-rate': { type: 'string' },
  speed: { type: 'string' },
  start: { type: 'string' },
  seed: { type: 'string' },
  heartbeat: { type: 'string' },
  keepalive: { type: 'string' },
  'connect-rate': { type: 'string' },
  'outbox-size': { type: 'string' },
  'outbox-dir': { type: 'string' },
  'ack-log': { type: 'string' },
  'demo-schedule': { type: 'string' },
  timezone: { type: 'string' },
  'operator-username': { type: 'string' },
  'operator-password': { type: 'string' },
  'summary-every': { type: 'string' },
  duration: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean' },
} as const;

type Args = ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];

class UsageError extends Error {}

function number(args: Args, name: keyof Args, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const raw = args[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) throw new UsageError(`--${name} must be a number in ${min}..${max}`);
  return value;
}

function optionalRate(args: Args, name: keyof Args): number | undefined {
  return args[name] === undefined ? undefined : number(args, name, 0, { max: 1 });
}

function makeLogger(level: string): Logger {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const threshold = order.indexOf(level as LogLevel);
  if (threshold === -1) throw new UsageError(`--log-level must be one of ${order.join(', ')}`);
  return (messageLevel, message, fields) => {
    if (order.indexOf(messageLevel) < threshold) return;
    console.error(`${messageLevel.padEnd(5)} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
}

/** Where the devices come from, and the broker URL provisioning suggests. */
async function loadDevices(args: Args): Promise<{ credentials: DeviceCredentials[]; url?: string }> {
  const count = args.devices === undefined ? undefined : number(args, 'devices', 1, { min: 1, max: 100_000 });
  if (args.credentials) {
    const all = await readCredentialsFile(args.credentials);
    if (count !== undefined && count > all.length) throw new UsageError(`--devices ${count} but ${args.credentials} holds ${all.length}`);
    return { credentials: all.slice(0, count ?? all.length) };
  }
  if (args['hub-url']) {
    const token = args.token ?? process.env.MEDHUB_TOKEN;
    if (!token) throw new UsageError('--hub-url needs --token or MEDHUB_TOKEN');
    const provisioned = await provisionDevices({
      hubUrl: args['hub-url'],
      token,
      count: count ?? 1,
      ...(args['serial-prefix'] ? { serialPrefix: args['serial-prefix'] } : {}),
      ...(args['patient-id'] ? { patientId: args['patient-id'] } : {}),
    });
    const credentials = provisioned.map(credentialsOf);
    if (args['save-credentials']) await writeCredentialsFile(args['save-credentials'], credentials);
    console.log(`provisioned ${credentials.length} devices${args['save-credentials'] ? ` → ${args['save-credentials']}` : ''}`);
    return { credentials, ...(provisioned[0] ? { url: await liveMqttUrl(args['hub-url'], provisioned[0]) } : {}) };
  }
  return { credentials: generatedCredentials(count ?? 1, args['id-prefix']) };
}

/**
 * For demos on a bare broker: play the hub's part and publish each device's
 * retained schedule, again every simulated day. Returns a function that stops
 * that and clears them.
 */
async function publishDemoSchedules(args: Args, url: string, fleet: Fleet, list: string, logger: Logger): Promise<() => Promise<void>> {
  const schedules = await startDemoSchedules({
    url,
    deviceIds: fleet.devices.map((device) => device.id),
    clock: fleet.clock,
    times: list.split(',').map((time) => time.trim()),
    timezone: args.timezone ?? 'UTC',
    ...(args['operator-username'] ? { username: args['operator-username'] } : {}),
    ...(args['operator-password'] ? { password: args['operator-password'] } : {}),
    logger,
    onPublished: ({ version, doses, devices, validUntil, first }) =>
      console.log(
        first
          ? `published a ${doses}-dose demo schedule (version ${version}) to ${devices} devices`
          : `republished the demo schedule (version ${version}, ${doses} doses until ${validUntil.slice(0, 16).replace('T', ' ')}Z) to ${devices} devices`,
      ),
  });
  return () => schedules.stop();
}

function summaryLine(fleet: Fleet, stats: FleetStats): string {
  const now = new Date().toISOString().slice(11, 19);
  const sim = isoInstant(fleet.clock.now()).slice(0, 16).replace('T', ' ');
  return (
    `[${now}] sim ${sim}Z | connected ${stats.connected}/${stats.devices}` +
    ` | events ${stats.eventsQueued} queued, ${stats.eventsAcked} acked` +
    ` | acks ${stats.acksDelivered}/${stats.acksQueued} | outbox ${stats.outboxSize} (dropped ${stats.outboxDropped})` +
    ` | hub errors ${stats.hubErrors} | reconnects ${stats.reconnects} | connect failures ${stats.connectFailures}`
  );
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({ options, strict: true, allowPositionals: false });
  if (args.help) {
    console.log(HELP);
    return;
  }
  const scenario = args.scenario ?? 'adherent';
  if (!isScenarioName(scenario)) throw new UsageError(`--scenario must be one of ${SCENARIO_NAMES.join(', ')}`);
  const startAt = args.start === undefined ? undefined : Date.parse(args.start);
  if (startAt !== undefined && Number.isNaN(startAt)) throw new UsageError('--start must be an ISO instant');
  const scenarioOptions: ScenarioOptions = {};
  for (const [flag, key] of [['miss-rate', 'missRate'], ['late-rate', 'lateRate'], ['offline-rate', 'offlineRate'], ['jam-rate', 'jamRate']] as const) {
    const value = optionalRate(args, flag);
    if (value !== undefined) scenarioOptions[key] = value;
  }
  const logger = makeLogger(args['log-level'] ?? 'warn');
  const devices = await loadDevices(args);
  const url = args.url ?? devices.url ?? 'mqtt://127.0.0.1:1883';

  const fleet = startFleet({
    url,
    credentials: devices.credentials,
    scenario,
    scenarioOptions,
    speed: number(args, 'speed', 1, { min: 0.001, max: 1_000_000 }),
    ...(startAt !== undefined ? { startAt } : {}),
    seed: number(args, 'seed', 1),
    heartbeatSeconds: number(args, 'heartbeat', 60, { min: 0.1 }),
    keepaliveSeconds: number(args, 'keepalive', 60, { min: 0, max: 65535 }),
    connectRatePerSecond: number(args, 'connect-rate', 200, { min: 1 }),
    outboxCapacity: number(args, 'outbox-size', 1000, { min: 1, max: 1_000_000 }),
    ...(args['outbox-dir'] ? { outboxDir: args['outbox-dir'] } : {}),
    ...(args['ack-log'] ? { ackLogPath: args['ack-log'] } : {}),
    logger,
  });
  console.log(`${fleet.devices.length} simulated dispensers → ${url} (scenario ${scenario}, speed ${fleet.clock.speed}×); Ctrl-C to stop`);

  // Published while the fleet connects; a stop that comes meanwhile waits for it, so the
  // schedules it leaves retained on the broker are always removed again.
  const demoSchedules = args['demo-schedule'] ? publishDemoSchedules(args, url, fleet, args['demo-schedule'], logger) : Promise.resolve(undefined);
  const clearDemoSchedules = async () => (await demoSchedules.catch(() => undefined))?.();
  const summary = setInterval(() => console.log(summaryLine(fleet, fleet.stats())), number(args, 'summary-every', 5, { min: 0.1 }) * 1000);
  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(summary);
      console.log(`${why}: stopping ${fleet.devices.length} devices…`);
      await fleet.stop();
      await clearDemoSchedules();
      console.log(summaryLine(fleet, fleet.stats()));
    })();
    return stopping;
  };
  // Handlers go in before anything slow, so Ctrl-C always stops cleanly.
  const done = new Promise<void>((resolve, reject) => {
    const finish = (why: string) => void stop(why).then(resolve, reject);
    process.once('SIGINT', () => finish('SIGINT'));
    process.once('SIGTERM', () => finish('SIGTERM'));
    if (args.duration !== undefined) setTimeout(() => finish('duration reached'), number(args, 'duration', 0) * 1000).unref();
  });
  await Promise.race([demoSchedules, done]);
  await Promise.race([fleet.started, done]);
  await done;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof UsageError ? `${error.message}\n\n${HELP}` : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
