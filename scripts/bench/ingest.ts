/**
 * Device ingest benchmark: `npm run bench:ingest [-- options]`.
 *
 * The hub runs in its own process (`node --import tsx src/main.ts`, embedded store under a
 * temporary DATA_DIR); this process runs the dispenser simulator (firmware-sim) and a
 * Socket.IO client logged in as a clinician, who sees every patient's live events. All on
 * loopback. Phases, each bounded:
 *
 *  1. Provision `--devices` dispensers over REST (POST /devices), across `--patients` patients.
 *  2. Connect them all (fleet A, staggered at `--connect-rate`/s, heartbeat every `--heartbeat` s
 *     as real devices do) and read the hub's RSS (/proc/<pid>/status VmRSS) before and after:
 *     RSS per connected, idle device; and the hub's CPU with the fleet idle. Then the same after
 *     a full garbage collection before and after (through the inspector: the targets run with
 *     --inspect on a loopback port), which is what the live objects cost.
 *  3. QoS 1 events: `--event-devices` of them (default events/2, so one dose a second each) get
 *     a schedule (PUT /devices/{id}/schedule, published retained) whose doses fall due,
 *     staggered, at `--events` events/s in total for `--duration` s; each dose is
 *     dose.dispensed + dose.taken. An event counts when its PUBACK arrives (the hub acks only
 *     once it is stored) and when the clinician's socket receives its `dose:event`; latency is
 *     first publish → `dose:event` on the socket. Then up to `--drain-timeout` s for the rest.
 *  4. QoS 0 heartbeats: `--heartbeat-devices` of them (default heartbeats/2) reconnect (fleet B)
 *     with a heartbeat every heartbeat-devices/`--heartbeats` s while the others stay connected;
 *     counted as sent by the simulator and as `device:status` received by the clinician's socket
 *     (the hub emits one per stored heartbeat).
 *
 * Then the same client load against a bare Aedes broker in its own process (accepting
 * everything, acking at once; scripts/bench/lib/bare-aedes.ts), with an MQTT subscriber in
 * place of the socket, for the ratio. CPU time of the target (from /proc) and of this process
 * is reported per phase, so a saturated side shows; so is the load average (the machine is
 * shared). The hub's own counters (/metrics) give store commands per event.
 *
 * Options: --devices 10000 --events 5000 (offered events/s) --duration 20 (s per load phase)
 *   --heartbeats 5000 (offered heartbeats/s) --heartbeat 60 (s, fleet A) --connect-rate 150
 *   --event-devices N --heartbeat-devices N --patients 100 --drain-timeout 90 --skip-bare
 *   --bare-persistence index|memory --hub-prof DIR (hub --cpu-prof; log lines then carry the
 *   monotonic clock the profile uses) --hub-root DIR (run the hub from another checkout, e.g. a
 *   git worktree, for an A/B comparison) --hub-node-args='…' (more node flags for the hub, e.g.
 *   --heapsnapshot-signal=SIGUSR2) --store-process (the embedded store in a process of its own, the
 *   hub pointed at it with MONGO_URL, as an operator may run it; "target CPU" then counts both)
 *   --memory-only (stop after phase 2: connected devices and memory, e.g. for an A/B with --hub-root)
 *   --hub-alloc-prof FILE (sample what the hub allocates during the events window, garbage included,
 *   into FILE, a .heapprofile, and print the top allocating functions) --hub-promoted-prof FILE (the
 *   same for what survives young-generation collections: what fills the old generation, whose growth
 *   sets how often the hub runs a full mark-compact)
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { createSimClock, provisionDevice, startFleet, type DeviceCredentials, type Fleet, type ProvisionedDevice } from '../../firmware-sim/index.js';
import { doseBurstSchedule, EVENTS_PER_DOSE, forEachLimited, MAX_DOSES_PER_SCHEDULE, type ScheduleRequest } from './lib/dose-burst.js';
import { api, cpuMillis, login, repoRoot, rssBytes, startHubProcess, type HubProcess } from './lib/hub-process.js';
import { collectGarbage, INSPECT_ARG, inspectorUrl, topAllocators, type AllocationSample } from './lib/inspector.js';
import { startStoreProcess } from './lib/store-process.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    events: { type: 'string', default: '5000' },
    duration: { type: 'string', default: '20' },
    heartbeats: { type: 'string', default: '5000' },
    heartbeat: { type: 'string', default: '60' },
    'event-devices': { type: 'string' },
    'heartbeat-devices': { type: 'string' },
    'connect-rate': { type: 'string', default: '150' },
    patients: { type: 'string', default: '100' },
    'skip-bare': { type: 'boolean', default: false },
    'bare-persistence': { type: 'string', default: 'index' },
    'hub-prof': { type: 'string' },
    'hub-root': { type: 'string' },
    'hub-node-args': { type: 'string', default: '' },
    'store-process': { type: 'boolean', default: false },
    'drain-timeout': { type: 'string', default: '90' },
    'memory-only': { type: 'boolean', default: false },
    'latency-series': { type: 'boolean', default: false },
    'hub-alloc-prof': { type: 'string' },
    'hub-promoted-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run bench:ingest -- [--devices 10000] [--events 5000] [--duration 20] [--heartbeats 5000] [--heartbeat 60] [--connect-rate 150] [--event-devices N] [--heartbeat-devices N] [--patients 100] [--drain-timeout 90] [--skip-bare] [--bare-persistence index|memory] [--hub-prof DIR] [--hub-root DIR] [--hub-node-args=\'…\'] [--store-process] [--memory-only] [--latency-series] [--hub-alloc-prof FILE] [--hub-promoted-prof FILE]');
  process.exit(0);
}
const positive = (name: keyof typeof values): number => {
  const value = Number(values[name]);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`--${name} must be a positive number`);
  return value;
};
if (values['hub-alloc-prof'] && values['hub-promoted-prof']) throw new Error('--hub-alloc-prof and --hub-promoted-prof sample the same window: give one');
const opts = {
  devices: Math.round(positive('devices')),
  events: positive('events'),
  duration: positive('duration'),
  heartbeats: positive('heartbeats'),
  heartbeat: positive('heartbeat'),
  connectRate: positive('connect-rate'),
  patients: Math.round(positive('patients')),
  drainTimeoutMs: positive('drain-timeout') * 1000,
  eventDevices: 0,
  heartbeatDevices: 0,
};
// By default a device doses once a second (2 events/s) and heartbeats every 2 s, so the load
// phases need events/2 and heartbeats/2 devices; fewer schedules and reconnects keep setup short.
opts.eventDevices = values['event-devices'] ? Math.round(positive('event-devices')) : Math.max(1, Math.ceil(opts.events / EVENTS_PER_DOSE));
opts.heartbeatDevices = values['heartbeat-devices'] ? Math.round(positive('heartbeat-devices')) : Math.max(1, Math.ceil(opts.heartbeats / 2));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 0): number => Number(value.toFixed(digits));
/** With --hub-prof, lines carry the monotonic clock (ms), which the hub's .cpuprofile timestamps use too. */
const monotonic = (): string => (values['hub-prof'] ? ` mono=${(process.hrtime.bigint() / 1_000_000n).toString()}` : '');
const loadAverage = (): string => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
};
const log = (message: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}${monotonic()}] ${message}`);

/** --hub-alloc-prof: the window's allocations, into FILE (open it in Chrome DevTools' Memory tab) and as the top allocating functions. */
async function reportAllocations(name: string, { profile, bytes }: AllocationSample, file: string): Promise<void> {
  writeFileSync(file, JSON.stringify(profile));
  log(`${name}: ${round(bytes / 2 ** 20)} MB allocated in the window (sampled; ${file}), top allocating functions:\n  ${topAllocators(profile).join('\n  ')}`);
}

async function waitFor(what: string, check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) {
      log(`gave up waiting for ${what} after ${round(ms / 1000)} s`);
      return false;
    }
    await sleep(250);
  }
  return true;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** CPU use of the target and of this process over an interval, in % of one core. */
function cpuMeter(pids: readonly number[]) {
  const cpuOf = (): number => pids.reduce((sum, pid) => sum + cpuMillis(pid), 0);
  const wall = performance.now();
  const target = cpuOf();
  const self = process.cpuUsage();
  return () => {
    const elapsed = performance.now() - wall;
    const own = process.cpuUsage(self);
    const targetMs = cpuOf() - target;
    return { target: round((targetMs / elapsed) * 100), driver: round(((own.user + own.system) / 1000 / elapsed) * 100), targetMs };
  };
}

/**
 * RSS after a quiet spell: the lowest of samples taken every 250 ms, so garbage a collection
 * is about to free (connects leave plenty) counts as little as possible.
 */
async function settledRss(pid: number, ms: number): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    await sleep(250);
    lowest = Math.min(lowest, rssBytes(pid));
  }
  return lowest;
}

/**
 * RSS once garbage is out of the way: full collections (through the inspector), then the lowest
 * of a few samples. The settled figure above still holds what the last burst left for V8 to
 * collect when it sees fit; this one is what the live objects cost.
 */
async function collectedRss(target: Target): Promise<number> {
  // Twice: the second collects what the first's weak callbacks and finalizers let go, and V8
  // hands back the pages the first one emptied.
  await target.collectGarbage();
  await sleep(1000);
  await target.collectGarbage();
  return settledRss(target.pid, 2000);
}

// ── what is being measured: the hub, or a bare broker ─────────────────────────

interface Watch {
  /** A dose event reached the watcher (caregiver socket, or an MQTT subscriber). */
  event(eventId: string): void;
  /** A heartbeat reached the watcher. */
  heartbeat(): void;
}

interface Target {
  /** The processes whose CPU counts as the target's (the hub, and its store when it runs apart). */
  readonly cpuPids: readonly number[];
  readonly name: string;
  readonly pid: number;
  readonly mqttUrl: string;
  readonly credentials: DeviceCredentials[];
  /** Rough seconds to publish all schedules, to start the burst after they are out. */
  readonly scheduleSecondsEstimate: number;
  /** Publishes one schedule per device (by device id). */
  setSchedules(schedules: Map<string, ScheduleRequest>): Promise<void>;
  watch(handlers: Watch): Promise<void>;
  /** Counters the target reports about itself (the hub's /metrics). */
  counters(): Promise<Record<string, number>>;
  /** A full garbage collection in the target (through its inspector). */
  collectGarbage(): Promise<void>;
  /** What the target allocates in the next `ms`, garbage included (the hub only; see lib/inspector.ts). */
  sampleAllocations?(ms: number, survivorsOnly?: boolean): Promise<AllocationSample>;
  close(): Promise<void>;
}

async function hubTarget(dataDir: string): Promise<Target> {
  const admin = { adminEmail: `bench-${randomUUID().slice(0, 8)}@example.org`, adminPassword: 'bench-admin-password', jwtSecret: randomBytes(24).toString('hex') };
  const nodeArgs = [...(values['hub-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['hub-prof']}`] : []), ...values['hub-node-args'].split(' ').filter(Boolean)];
  const store = values['store-process'] ? await startStoreProcess(join(dataDir, 'store-process')) : undefined;
  const hub: HubProcess = await startHubProcess({ dataDir, ...admin, nodeArgs, inspect: true, ...(values['hub-root'] ? { root: values['hub-root'] } : {}), env: { MONGO_URL: store?.uri, REDIS_URL: undefined }, startTimeoutMs: 60_000 });
  log(`hub pid ${hub.pid}: ${hub.api}, ${hub.mqtt}, store ${store ? `pid ${String(store.pid)} ${store.uri} (own process)` : (hub.storeUri ?? '?')}`);
  const staff = await login(hub.api, admin.adminEmail, admin.adminPassword);

  const patients: string[] = [];
  for (let index = 0; index < opts.patients; index++) {
    const patient = await api<{ id: string }>(hub.api, 'POST', '/patients', { token: staff.token, body: { name: `Bench Patient ${index + 1}`, timezone: 'UTC' } });
    patients.push(patient.id);
  }
  const clinicianEmail = `clinician-${randomUUID().slice(0, 8)}@example.org`;
  await api(hub.api, 'POST', '/users', { token: staff.token, body: { email: clinicianEmail, name: 'Bench Clinician', role: 'clinician', password: admin.adminPassword } });
  const clinician = await login(hub.api, clinicianEmail, admin.adminPassword);

  const provisionStarted = performance.now();
  const devices: ProvisionedDevice[] = new Array(opts.devices);
  const indices = Array.from({ length: opts.devices }, (_, index) => index);
  await forEachLimited(indices, 16, async (index) => {
    const serial = `BENCH-${String(index + 1).padStart(6, '0')}`;
    devices[index] = await provisionDevice({ serial, patientId: patients[index % patients.length] as string }, { hubUrl: hub.http, token: staff.token, timeoutMs: 30_000 });
  });
  const provisionSeconds = (performance.now() - provisionStarted) / 1000;
  log(`provisioned ${opts.devices} devices for ${opts.patients} patients in ${round(provisionSeconds, 1)} s (${round(opts.devices / provisionSeconds)}/s)`);

  let socket: Socket | undefined;
  return {
    name: 'hub',
    pid: hub.pid,
    cpuPids: [hub.pid, ...(store?.pid ? [store.pid] : [])],
    mqttUrl: hub.mqtt,
    credentials: devices.map((device) => ({ id: device.id, secret: device.secret })),
    scheduleSecondsEstimate: provisionSeconds,
    async setSchedules(schedules) {
      await forEachLimited([...schedules], 16, async ([deviceId, schedule]) => {
        await api(hub.api, 'PUT', `/devices/${deviceId}/schedule`, { token: staff.token, body: schedule });
      });
    },
    async watch(handlers) {
      socket = io(hub.http, { transports: ['websocket'], auth: { token: clinician.token }, reconnection: false, forceNew: true });
      const connecting = socket;
      await new Promise<void>((resolve, reject) => {
        connecting.once('connect', () => resolve());
        connecting.once('connect_error', reject);
      });
      socket.on('dose:event', (event: { eventId: string }) => handlers.event(event.eventId));
      socket.on('device:status', () => handlers.heartbeat());
      await sleep(1000); // the hub joins the staff room right after the handshake
    },
    async counters() {
      const response = await fetch(`${hub.http}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return parseMetrics(await response.text());
    },
    collectGarbage: () => hub.collectGarbage(),
    sampleAllocations: (ms, survivorsOnly) => hub.sampleAllocations(ms, survivorsOnly),
    async close() {
      socket?.close();
      await hub.stop(30_000);
      await store?.stop();
    },
  };
}

/**
 * The few hub counters worth a ratio: messages in by kind, store commands by name; and the event
 * loop's delay since the previous scrape (prom-client resets it on every scrape), as `loop.*` in ms.
 */
function parseMetrics(text: string): Record<string, number> {
  const counters: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const loop = /^medhub_nodejs_eventloop_lag_(p50|p99|max)_seconds (\S+)$/.exec(line);
    if (loop?.[1]) counters[`loop.${loop[1]}_ms`] = Math.round(Number(loop[2]) * 1000);
    const message = /^medhub_mqtt_messages_total\{direction="in",kind="(\w+)"\} (\S+)$/.exec(line);
    if (message?.[1]) counters[`mqtt.in.${message[1]}`] = Number(message[2]);
    const store = /^medhub_store_command_duration_seconds_count\{command="(\w+)",outcome="ok"\} (\S+)$/.exec(line);
    if (store?.[1]) counters[`store.${store[1]}`] = Number(store[2]);
  }
  return counters;
}

async function bareTarget(credentials: DeviceCredentials[]): Promise<Target> {
  const persistence = values['bare-persistence'] ?? 'index';
  const child = spawn(process.execPath, [INSPECT_ARG, '--import', 'tsx', 'scripts/bench/lib/bare-aedes.ts', persistence], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const inspector = inspectorUrl(child.stderr as Readable);
  (child.stderr as Readable).on('data', (chunk: Buffer) => process.stderr.write(chunk.toString().replace(/^(Debugger (listening|attached|ending)|For help, see).*\n/gm, '')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bare Aedes did not start')), 30_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve(Number(/^port (\d+)$/.exec(line)?.[1]));
    });
  });
  const url = `mqtt://127.0.0.1:${port}`;
  log(`bare Aedes (${persistence} persistence) pid ${child.pid}: ${url}`);
  const connectClient = async (clientId: string): Promise<MqttClient> => {
    const client = mqtt.connect(url, { protocolVersion: 4, clientId, clean: true, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  };
  const operator = await connectClient('bench-operator');
  let watcher: MqttClient | undefined;
  let version = 0;
  return {
    name: `bare Aedes`,
    pid: child.pid as number,
    cpuPids: [child.pid as number],
    mqttUrl: url,
    credentials,
    scheduleSecondsEstimate: credentials.length / 5000,
    async setSchedules(schedules) {
      version++;
      const generatedAt = new Date().toISOString();
      const validUntil = new Date(Date.now() + 72 * 3_600_000).toISOString();
      // The same retained payload the hub would publish, from an operator client.
      await forEachLimited([...schedules], 64, async ([deviceId, schedule]) => {
        const payload = { version, generatedAt, validUntil, ...schedule };
        await operator.publishAsync(`v1/devices/${deviceId}/schedule`, JSON.stringify(payload), { qos: 1, retain: true });
      });
    },
    async watch(handlers) {
      watcher = await connectClient('bench-watcher');
      watcher.on('message', (topic, payload) => {
        if (topic.endsWith('/heartbeat')) handlers.heartbeat();
        else if (topic.endsWith('/events')) {
          const { eventId, type } = JSON.parse(payload.toString()) as { eventId: string; type: string };
          if (type.startsWith('dose.')) handlers.event(eventId);
        }
      });
      await watcher.subscribeAsync(['v1/devices/+/events', 'v1/devices/+/heartbeat'], { qos: 0 });
    },
    async counters() {
      return {};
    },
    collectGarbage: async () => collectGarbage(await inspector),
    async close() {
      await Promise.all([operator.endAsync(true), watcher?.endAsync(true)]);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ── the phases ────────────────────────────────────────────────────────────────

interface MemoryResults {
  target: string;
  connected: number;
  connectSeconds: number;
  connectFailures: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  rssPerDeviceKb: number;
  /** The same after a full garbage collection before and after the fleet connects. */
  rssPerDeviceAfterGcKb: number;
  /** Target CPU with the fleet connected and idle (heartbeats only), % of one core. */
  idleCpu: number;
}

interface Results extends MemoryResults {
  events: {
    offeredPerSecond: number;
    windowSeconds: number;
    expected: number;
    ackedInWindowPerSecond: number;
    receivedInWindowPerSecond: number;
    acked: number;
    received: number;
    /** First dose due → last event received (or the drain timeout). */
    endToEndSeconds: number;
    endToEndPerSecond: number;
    lastAckAfterWindowSeconds: number;
    latencyMs: { p50: number; p99: number; max: number; count: number };
    cpu: { target: number; driver: number };
    /** Target CPU time from the first dose due to the last event received, per event. */
    targetCpuMsPerEvent: number;
    hubErrors: number;
    counters: Record<string, number>;
  };
  heartbeats: {
    offeredPerSecond: number;
    windowSeconds: number;
    sentPerSecond: number;
    receivedPerSecond: number;
    cpu: { target: number; driver: number };
    targetCpuMsPerHeartbeat: number;
    counters: Record<string, number>;
  };
}

/** Counters as differences; `loop.*` gauges (already per scrape interval) as they are. */
function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([key, value]) => [key, key.startsWith('loop.') ? value : value - (before[key] ?? 0)]).filter(([, value]) => value !== 0));
}

async function run(target: Target): Promise<Results | MemoryResults> {
  const devices = target.credentials.length;
  const handlers: Watch = { event: () => undefined, heartbeat: () => undefined };
  await target.watch({ event: (eventId) => handlers.event(eventId), heartbeat: () => handlers.heartbeat() });

  // ── connect (fleet A) and memory ──
  const rssBefore = await settledRss(target.pid, 3000);
  const collectedBefore = await collectedRss(target);
  const connectCounters = await target.counters();
  const connectStarted = performance.now();
  const fleetA: Fleet = startFleet({
    url: target.mqttUrl,
    credentials: target.credentials,
    scenario: 'adherent',
    heartbeatSeconds: opts.heartbeat,
    connectRatePerSecond: opts.connectRate,
    slots: { count: 4, pillsPerSlot: 1000 },
  });
  const connectBudgetMs = (devices / opts.connectRate) * 3000 + 60_000;
  await waitFor(`${devices} connections`, () => fleetA.stats().connected === devices, connectBudgetMs);
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const connectStats = fleetA.stats();
  log(`${target.name}: ${connectStats.connected}/${devices} devices connected in ${round(connectSeconds, 1)} s (${connectStats.connectFailures} connect failures)`);
  const perConnect = Object.entries(delta(await target.counters(), connectCounters)).filter(([key]) => key.startsWith('store.'));
  if (perConnect.length) log(`${target.name}: store commands per connected device: ${perConnect.map(([key, value]) => `${key.slice('store.'.length)} ${round(value / devices, 2)}`).join(', ')}`);
  const idleCpu = cpuMeter(target.cpuPids);
  const rssAfter = await settledRss(target.pid, 5000);
  const idle = idleCpu();
  const collectedAfter = await collectedRss(target);
  const connected = fleetA.stats().connected;
  log(`${target.name}: RSS ${round(rssBefore / 2 ** 20)} MB → ${round(rssAfter / 2 ** 20)} MB, ${round((rssAfter - rssBefore) / connected / 1024, 1)} KB per connected device; idle CPU ${idle.target}% (driver ${idle.driver}%)`);
  log(`${target.name}: after a full collection, RSS ${round(collectedBefore / 2 ** 20)} MB → ${round(collectedAfter / 2 ** 20)} MB, ${round((collectedAfter - collectedBefore) / connected / 1024, 1)} KB per connected device`);
  const memory = {
    target: target.name,
    connected,
    connectSeconds: round(connectSeconds, 1),
    connectFailures: connectStats.connectFailures,
    rssBeforeMb: round(rssBefore / 2 ** 20, 1),
    rssAfterMb: round(rssAfter / 2 ** 20, 1),
    rssPerDeviceKb: round((rssAfter - rssBefore) / connected / 1024, 1),
    rssPerDeviceAfterGcKb: round((collectedAfter - collectedBefore) / connected / 1024, 1),
    idleCpu: idle.target,
  };
  if (values['memory-only']) {
    await fleetA.stop({ graceful: false });
    return memory;
  }

  // ── QoS 1 dose events, from the first `eventDevices` devices (the others stay connected and idle) ──
  const eventDevices = fleetA.devices.slice(0, Math.min(devices, opts.eventDevices));
  const periodMs = ((eventDevices.length * EVENTS_PER_DOSE) / opts.events) * 1000; // each device doses once per period
  const doses = Math.min(MAX_DOSES_PER_SCHEDULE, Math.max(1, Math.round((opts.duration * 1000) / periodMs)));
  const windowMs = doses * periodMs;
  const expected = eventDevices.length * doses * EVENTS_PER_DOSE;
  // Publishing a schedule to a connected fleet costs more than provisioning a device did (runs S and
  // the 00:00 A/B of 2026-12-06 came 24–31 s late with ×1.5 + 5 s, so every first dose fell due at once).
  const leadMs = Math.max(5000, ((target.scheduleSecondsEstimate * eventDevices.length) / devices) * 3000 + 10_000);
  const startAt = Date.now() + leadMs;
  const schedules = new Map(eventDevices.map((device, index) => [device.id, doseBurstSchedule({ startAt: startAt + (index / eventDevices.length) * periodMs, doses, spacingMs: periodMs })]));
  let applied = 0;
  for (const device of eventDevices) device.once('schedule-applied', () => applied++);
  const published = new Map<string, number>();
  const latencies: number[] = [];
  /** [ms since the window started when the event was first published, latency ms], for --latency-series. */
  const series: Array<[number, number]> = [];
  let acked = 0;
  let ackedInWindow = 0;
  let received = 0;
  let receivedInWindow = 0;
  let lastAckAt = 0;
  let lastReceivedAt = 0;
  const windowEnd = startAt + windowMs;
  for (const device of eventDevices) {
    device.on('published', (topic, payload) => {
      if (!topic.endsWith('/events')) return;
      const { eventId, type } = payload as { eventId: string; type: string };
      if (type.startsWith('dose.') && !published.has(eventId)) published.set(eventId, performance.now());
    });
    device.on('acked', ({ kind, label }) => {
      if (kind !== 'event' || !label.startsWith('dose.')) return;
      acked++;
      lastAckAt = Date.now();
      if (lastAckAt <= windowEnd) ackedInWindow++;
    });
  }
  // The window's start on the performance clock (events published early, when schedules are late, land in negative seconds).
  const windowStartedAt = performance.now() + (startAt - Date.now());
  handlers.event = (eventId) => {
    const sentAt = published.get(eventId);
    if (sentAt === undefined) return;
    published.delete(eventId);
    latencies.push(performance.now() - sentAt);
    if (values['latency-series']) series.push([sentAt - windowStartedAt, performance.now() - sentAt]);
    received++;
    lastReceivedAt = Date.now();
    if (lastReceivedAt <= windowEnd) receivedInWindow++;
  };
  const scheduleStarted = performance.now();
  await target.setSchedules(schedules);
  await waitFor('every device to apply its schedule', () => applied === eventDevices.length, Math.max(1000, startAt - Date.now()));
  log(`${target.name}: ${applied} schedules published and applied in ${round((performance.now() - scheduleStarted) / 1000, 1)} s; ${doses} doses per device, ${expected} events at ${round(opts.events)}/s from ${new Date(startAt).toISOString().slice(11, 19)}`);
  if (Date.now() > startAt) log(`WARNING: schedules were late by ${round((Date.now() - startAt) / 1000, 1)} s; the first doses came due at once`);
  await sleep(Math.max(0, startAt - Date.now()));
  log(`${target.name}: events window starts (load average ${loadAverage()})`);
  const eventCounters = await target.counters();
  const eventCpu = cpuMeter(target.cpuPids);
  const allocationFile = values['hub-alloc-prof'] ?? values['hub-promoted-prof'];
  const survivorsOnly = values['hub-alloc-prof'] === undefined;
  const allocations = allocationFile && target.sampleAllocations ? target.sampleAllocations(Math.max(0, windowEnd - Date.now()), survivorsOnly) : undefined;
  await sleep(Math.max(0, windowEnd - Date.now()));
  if (allocations && allocationFile) await reportAllocations(`${target.name}${survivorsOnly ? ' (what young-generation collections kept)' : ''}`, await allocations, allocationFile);
  const { targetMs: _windowMs, ...windowCpu } = eventCpu();
  const backlog = fleetA.stats().outboxSize;
  log(`${target.name}: window over (load average ${loadAverage()}): ${ackedInWindow} acked, ${receivedInWindow} received at the watcher, ${backlog} waiting in outboxes`);
  await waitFor('every event acknowledged and received', () => acked >= expected && received >= expected, opts.drainTimeoutMs);
  const phaseCpu = eventCpu();
  const eventCountersAfter = delta(await target.counters(), eventCounters);
  const endToEndMs = Math.max(lastAckAt, lastReceivedAt) - startAt;
  latencies.sort((a, b) => a - b);
  const fleetAStats = fleetA.stats();
  const events: Results['events'] = {
    offeredPerSecond: round(opts.events),
    windowSeconds: round(windowMs / 1000, 1),
    expected,
    ackedInWindowPerSecond: round(ackedInWindow / (windowMs / 1000)),
    receivedInWindowPerSecond: round(receivedInWindow / (windowMs / 1000)),
    acked,
    received,
    endToEndSeconds: round(endToEndMs / 1000, 1),
    endToEndPerSecond: round(Math.min(acked, received) / (endToEndMs / 1000)),
    lastAckAfterWindowSeconds: round(Math.max(0, lastAckAt - windowEnd) / 1000, 1),
    latencyMs: { p50: round(percentile(latencies, 50), 1), p99: round(percentile(latencies, 99), 1), max: round(latencies.at(-1) ?? Number.NaN, 1), count: latencies.length },
    cpu: windowCpu,
    targetCpuMsPerEvent: round(phaseCpu.targetMs / Math.max(1, Math.min(acked, received)), 3),
    hubErrors: fleetAStats.hubErrors,
    counters: eventCountersAfter,
  };
  log(`${target.name}: events ${JSON.stringify(events)}`);
  if (values['latency-series']) log(`${target.name}: latency by second of publishing (p50/p99/max ms): ${latencyBySecond(series)}`);
  handlers.event = () => undefined;
  const lastDueAt = startAt + windowMs;

  // ── QoS 0 heartbeats: the last `heartbeatDevices` devices reconnect (fleet B) with a short heartbeat ──
  // The rest of fleet A stays connected. Fleet B's clock starts past the last dose's window, so a
  // retained schedule it finds dispenses nothing.
  const heartbeatCredentials = target.credentials.slice(-Math.min(devices, opts.heartbeatDevices));
  const leaving = new Set(heartbeatCredentials.map((device) => device.id));
  await Promise.all(fleetA.devices.filter((device) => leaving.has(device.id)).map((device) => device.stop({ graceful: false })));
  await sleep(3000);
  const clock = createSimClock({ startAt: Math.max(Date.now(), lastDueAt + 61_000) });
  const heartbeatSeconds = heartbeatCredentials.length / opts.heartbeats;
  const fleetB = startFleet({
    url: target.mqttUrl,
    credentials: heartbeatCredentials,
    clock,
    heartbeatSeconds,
    connectRatePerSecond: opts.connectRate,
    slots: { count: 4, pillsPerSlot: 1000 },
  });
  const heartbeatConnectStarted = performance.now();
  await waitFor(`${heartbeatCredentials.length} connections (fleet B)`, () => fleetB.stats().connected === heartbeatCredentials.length, connectBudgetMs);
  log(`${target.name}: fleet B, ${fleetB.stats().connected} devices with a heartbeat every ${round(heartbeatSeconds, 2)} s, connected in ${round((performance.now() - heartbeatConnectStarted) / 1000, 1)} s; fleet A still has ${fleetA.stats().connected} connected`);
  await sleep(Math.max(3000, heartbeatSeconds * 2000)); // past the connect-time beats
  let heartbeatsReceived = 0;
  handlers.heartbeat = () => heartbeatsReceived++;
  const heartbeatCounters = await target.counters();
  const sentBefore = fleetB.stats().heartbeats;
  const heartbeatCpu = cpuMeter(target.cpuPids);
  const heartbeatStarted = performance.now();
  log(`${target.name}: heartbeat window starts (load average ${loadAverage()})`);
  await sleep(opts.duration * 1000);
  const heartbeatWindow = (performance.now() - heartbeatStarted) / 1000;
  const heartbeatUse = heartbeatCpu();
  const heartbeats: Results['heartbeats'] = {
    offeredPerSecond: round(opts.heartbeats),
    windowSeconds: round(heartbeatWindow, 1),
    sentPerSecond: round((fleetB.stats().heartbeats - sentBefore) / heartbeatWindow),
    receivedPerSecond: round(heartbeatsReceived / heartbeatWindow),
    cpu: { target: heartbeatUse.target, driver: heartbeatUse.driver },
    targetCpuMsPerHeartbeat: round(heartbeatUse.targetMs / Math.max(1, heartbeatsReceived), 3),
    counters: delta(await target.counters(), heartbeatCounters),
  };
  handlers.heartbeat = () => undefined;
  log(`${target.name}: heartbeats ${JSON.stringify(heartbeats)}`);
  await Promise.all([fleetB.stop({ graceful: false }), fleetA.stop({ graceful: false })]);

  return { ...memory, events, heartbeats };
}

const ratio = (a: number, b: number | undefined): string => (b ? `${round(a / b, 2)}×` : '—');

function printTable(rows: [string, string, string, string][]): void {
  const widths = [0, 1, 2, 3].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  console.log('');
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  '));
}

function memoryRows(hub: MemoryResults, bare: MemoryResults | undefined): [string, string, string, string][] {
  return [
    ['', 'hub', 'bare Aedes', 'hub / bare'],
    ['connected devices', `${hub.connected} in ${hub.connectSeconds} s`, bare ? `${bare.connected} in ${bare.connectSeconds} s` : '—', ''],
    ['RSS per idle device', `${hub.rssPerDeviceKb} KB`, bare ? `${bare.rssPerDeviceKb} KB` : '—', ratio(hub.rssPerDeviceKb, bare?.rssPerDeviceKb)],
    ['  the same after full GCs', `${hub.rssPerDeviceAfterGcKb} KB`, bare ? `${bare.rssPerDeviceAfterGcKb} KB` : '—', ratio(hub.rssPerDeviceAfterGcKb, bare?.rssPerDeviceAfterGcKb)],
    ['target CPU, fleet idle', `${hub.idleCpu}%`, bare ? `${bare.idleCpu}%` : '—', ''],
  ];
}

const isComplete = (results: Results | MemoryResults): results is Results => 'events' in results;

function report(hub: Results, bare: Results | undefined): void {
  const rows: [string, string, string, string][] = [
    ...memoryRows(hub, bare),
    ['QoS 1 events/s offered', `${hub.events.offeredPerSecond}`, bare ? `${bare.events.offeredPerSecond}` : '—', ''],
    ['QoS 1 events/s acked in window', `${hub.events.ackedInWindowPerSecond}`, bare ? `${bare.events.ackedInWindowPerSecond}` : '—', ratio(hub.events.ackedInWindowPerSecond, bare?.events.ackedInWindowPerSecond)],
    ['QoS 1 events/s end to end', `${hub.events.endToEndPerSecond}`, bare ? `${bare.events.endToEndPerSecond}` : '—', ratio(hub.events.endToEndPerSecond, bare?.events.endToEndPerSecond)],
    ['event → watcher p50 / p99 ms', `${hub.events.latencyMs.p50} / ${hub.events.latencyMs.p99}`, bare ? `${bare.events.latencyMs.p50} / ${bare.events.latencyMs.p99}` : '—', ratio(hub.events.latencyMs.p99, bare?.events.latencyMs.p99)],
    ['target CPU ms per event', `${hub.events.targetCpuMsPerEvent}`, bare ? `${bare.events.targetCpuMsPerEvent}` : '—', ratio(hub.events.targetCpuMsPerEvent, bare?.events.targetCpuMsPerEvent)],
    ['CPU during events (target / driver)', `${hub.events.cpu.target}% / ${hub.events.cpu.driver}%`, bare ? `${bare.events.cpu.target}% / ${bare.events.cpu.driver}%` : '—', ''],
    ['heartbeats/s offered', `${hub.heartbeats.offeredPerSecond}`, bare ? `${bare.heartbeats.offeredPerSecond}` : '—', ''],
    ['heartbeats/s received by watcher', `${hub.heartbeats.receivedPerSecond}`, bare ? `${bare.heartbeats.receivedPerSecond}` : '—', ratio(hub.heartbeats.receivedPerSecond, bare?.heartbeats.receivedPerSecond)],
    ['target CPU ms per heartbeat', `${hub.heartbeats.targetCpuMsPerHeartbeat}`, bare ? `${bare.heartbeats.targetCpuMsPerHeartbeat}` : '—', ratio(hub.heartbeats.targetCpuMsPerHeartbeat, bare?.heartbeats.targetCpuMsPerHeartbeat)],
    ['CPU during heartbeats (target / driver)', `${hub.heartbeats.cpu.target}% / ${hub.heartbeats.cpu.driver}%`, bare ? `${bare.heartbeats.cpu.target}% / ${bare.heartbeats.cpu.driver}%` : '—', ''],
  ];
  printTable(rows);
  const perEvent = (name: string): string => (hub.events.counters[name] ? round(hub.events.counters[name] / hub.events.acked, 2).toString() : '0');
  console.log(`\nhub store commands per dose event: insert ${perEvent('store.insert')}, find ${perEvent('store.find')}, update ${perEvent('store.update')}, findAndModify ${perEvent('store.findAndModify')}`);
  console.log(`hub: ${hub.events.hubErrors} hub errors; last event acknowledged ${hub.events.lastAckAfterWindowSeconds} s after the window; ${hub.events.acked}/${hub.events.expected} acked, ${hub.events.received}/${hub.events.expected} on the socket`);
  console.log(`\nJSON ${JSON.stringify({ hub, bare })}`);
}

async function main(): Promise<void> {
  log(`bench:ingest on ${cpus().length} cores, ${round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadAverage()}: ${JSON.stringify(opts)}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-bench-ingest-'));
  let hubResults: Results | MemoryResults;
  let credentials: DeviceCredentials[];
  const hub = await hubTarget(dataDir);
  try {
    credentials = hub.credentials;
    hubResults = await run(hub);
  } finally {
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  let bareResults: Results | MemoryResults | undefined;
  if (!values['skip-bare']) {
    await sleep(3000);
    const bare = await bareTarget(credentials);
    try {
      bareResults = await run(bare);
    } finally {
      await bare.close();
    }
  }
  log(`done (load average ${loadAverage()})`);
  if (isComplete(hubResults) && (bareResults === undefined || isComplete(bareResults))) report(hubResults, bareResults);
  else {
    printTable(memoryRows(hubResults, bareResults));
    console.log(`\nJSON ${JSON.stringify({ hub: hubResults, bare: bareResults })}`);
  }
  process.exit(0);
}

await main();

/** "s0 2.1/40/52 · s1 …": where in the window the slow events were published (a tail from stalls shows as a few bad seconds). */
function latencyBySecond(series: Array<[number, number]>): string {
  const buckets = new Map<number, number[]>();
  for (const [at, latency] of series) {
    const second = Math.floor(at / 1000);
    const bucket = buckets.get(second);
    if (bucket) bucket.push(latency);
    else buckets.set(second, [latency]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, values]) => {
      values.sort((a, b) => a - b);
      return `s${second} ${round(percentile(values, 50), 1)}/${round(percentile(values, 99), 1)}/${round(values.at(-1) ?? 0, 1)}`;
    })
    .join(' · ');
}
