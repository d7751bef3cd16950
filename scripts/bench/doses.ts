/**
 * Dose sweep and alert latency benchmark: `npm run bench:doses [-- options]`.
 *
 * An in-process hub (embedded store in memory, logs off, cron stopped, a ManualClock) seeded
 * directly through the models (lib/dose-seed.ts): `--patients` patients in Europe/Paris, each
 * with a dispenser (9 in 10 online, 1 in 10 offline), a plan of 4 doses a day at 08:00, 12:00,
 * 18:00 and 22:00 (shifted by i % `--spread` minutes), the occurrences of `--days` days, and a
 * care team: a watching caregiver on every `--watch-every`-th patient (97), a caregiver of their
 * own for every other one (none with `--without-care-teams`, as in the first version of this bench).
 *
 * Sweeps are timed twice: with a counting AlertsApi (the doses feature's own cost) on the 08:00
 * doses, then the hub's own service with the real alerts feature on the 12:00 doses (dose.late at
 * the end of their on-time window, then dose.missed, resolving dose.late, when they close). With
 * `--spread 1` (default) every patient shares the same minute: the worst case. With a spread,
 * the sweep runs every simulated minute, as the job does (the steady state).
 *
 * Alert → socket latency: the watching caregiver's socket.io-client runs in its own process
 * (lib/alert-listener.ts) and times each `alert:raised`: for late and missed doses from the start
 * of the sweep that found them (each real-alerts sweep is followed by a pause until the socket is quiet,
 * as the hub idles between minutes); then for `--device-samples` help.requested and as many
 * device.jam events published with MQTT.js to the hub's broker, from the PUBLISH to the socket.
 *
 * `--taken 0.9` (with the default `--spread 1`): that share of patients takes each dose on time, so
 * the sweeps that close the shared minute raise alerts for the rest only — a clinic whose patients
 * share a dose time, with ordinary adherence, rather than one where nobody takes a dose.
 *
 * `--profile DIR` writes a V8 CPU profile of each timed sweep into DIR. `--store disk|worker`
 * runs the embedded store as the hub does on a server (journaled; on a thread of its own with
 * worker) instead of in memory.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Types } from 'mongoose';
import { loadConfig } from '../../src/config.js';
import type { AlertsApi, RaiseAlert } from '../../src/features/alerts/contract.js';
import { createAdmin } from '../../src/features/identity/bootstrap.js';
import { createDoseService } from '../../src/features/doses/service.js';
import { startHub, type Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { startAlertListener, type AlertListener } from './lib/alert-listener.js';
import { DEVICE_ALERT_TYPES, measureDeviceAlerts } from './lib/device-alert-latency.js';
import { seedDoses, TIMES } from './lib/dose-seed.js';
import { api, login } from './lib/hub-process.js';
import { distribution, formatDistribution, wallNow } from './lib/latency.js';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '10000' },
    days: { type: 'string', default: '3' },
    spread: { type: 'string', default: '1' },
    'watch-every': { type: 'string', default: '97' },
    'device-samples': { type: 'string', default: '100' },
    /** With --spread 1: the share of patients who take each dose before its on-time window ends (the rest are late, then missed). */
    taken: { type: 'string', default: '0' },
    'without-care-teams': { type: 'boolean', default: false },
    /** memory (default): in memory on the hub's event loop; disk: journaled, on the event loop (the hub's default); worker: journaled, on a thread of its own. */
    store: { type: 'string', default: 'memory' },
    /** A directory: each real-alerts sweep is CPU-profiled into it (open the files in Chrome DevTools). */
    profile: { type: 'string' },
  },
});
if (!['memory', 'disk', 'worker'].includes(values.store)) throw new Error('--store is memory, disk or worker');
const SPREAD = Math.max(1, Number(values.spread));
const PATIENTS = Number(values.patients);
const DAYS = Number(values.days);
const WATCH_EVERY = Math.max(1, Number(values['watch-every']));
const DEVICE_SAMPLES = Number(values['device-samples']);
const TAKEN = Number(values.taken);
if (!(TAKEN >= 0 && TAKEN < 1)) throw new Error('--taken is a share of patients, from 0 to below 1');
const PASSWORD = `bench-${randomUUID()}`;

/** Runs `work` under the V8 CPU profiler and writes `<dir>/<name>.cpuprofile`. */
async function profiled<T>(dir: string, name: string, work: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

const ms = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e6;
const fmt = (value: number): string => `${value.toFixed(1)} ms`;
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

type SweepResult = { due: number; late?: number; missed: number; unknown: number };

/** The organisation's admin (the hub's own bootstrap) and the watching caregiver (over REST), signed in. */
async function people(hub: Hub) {
  const adminEmail = 'admin@bench.invalid';
  await createAdmin(hub.features.identity.models, { email: adminEmail, password: PASSWORD, organisation: 'Bench clinic' }, hub.features.identity.passwords);
  const admin = await login(hub.urls.api, adminEmail, PASSWORD);
  const watcherEmail = 'watcher@bench.invalid';
  await api(hub.urls.api, 'POST', '/users', { token: admin.token, body: { email: watcherEmail, name: 'Watching Caregiver', role: 'caregiver', password: PASSWORD } });
  const watcher = await login(hub.urls.api, watcherEmail, PASSWORD);
  return { admin, adminEmail, watcher };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-bench-doses-'));
  const clock = new ManualClock('2026-11-23T00:00:00Z');
  const thread = values.store === 'worker' ? { EMBEDDED_STORE_THREAD: 'worker' } : {};
  const config = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent', JWT_SECRET: 'bench-secret-bench-secret-bench-secret', ...thread });
  const hub = await startHub({ config, clock, inMemoryStore: values.store === 'memory' });
  await hub.context.jobs.stop(); // the bench calls the job bodies itself
  let listener: AlertListener | undefined;
  try {
    const { admin, adminEmail, watcher } = await people(hub);
    const careTeams = values['without-care-teams'] ? 'only the watched patients have a caregiver' : 'every patient has a caregiver';
    console.log(`medhub bench:doses — ${PATIENTS} patients × ${TIMES.length} doses/day × ${DAYS} days, times spread over ${SPREAD} minute(s), ${careTeams}; node ${process.version}, ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${load()}`);
    const seedStarted = process.hrtime.bigint();
    const { doses, watched } = await seedDoses(hub, { organisationId: admin.organisationId, patients: PATIENTS, days: DAYS, spread: SPREAD, watcherId: watcher.userId, watchEvery: WATCH_EVERY, ownCaregivers: !values['without-care-teams'] });
    console.log(`seeded ${await hub.features.doses.models.Occurrence.estimatedDocumentCount()} occurrences in ${(ms(seedStarted) / 1000).toFixed(1)} s; the watching caregiver looks after ${watched.length} patients`);
    listener = await startAlertListener(hub.urls.socket, watcher.token);

    const raisedByType = new Map<string, number>();
    const count = (alert: RaiseAlert) => {
      raisedByType.set(alert.type, (raisedByType.get(alert.type) ?? 0) + 1);
      return { id: randomUUID(), cause: alert.cause, status: 'active' as const };
    };
    const raisedSoFar = (): string => `alerts raised: ${[...raisedByType].map(([type, n]) => `${n} ${type}`).join(', ') || 'none'}`;
    const counting: AlertsApi = {
      raise: async (alert) => count(alert),
      raiseMany: async (alerts) => alerts.map(count),
      resolveCause: async () => null,
      resolveCauses: async () => [],
    };
    const service = createDoseService({ models: hub.features.doses.models, identity: hub.features.identity, devices: hub.features.devices, alerts: counting, sockets: hub.context.sockets, clock, logger: hub.context.logger });
    const real = hub.features.doses.service;
    /** Wall-clock start of the real-alerts sweep at each simulated instant (the raisedAt of the alerts it raised). */
    const sweepStarts = new Map<string, number>();
    const realSweep = async (): Promise<SweepResult> => {
      sweepStarts.set(clock.now().toISOString(), wallNow());
      if (values.profile === undefined) return real.sweep();
      return profiled(values.profile, `sweep-${clock.now().toISOString().replace(/[:.]/g, '')}`, () => real.sweep());
    };
    /** After a real-alerts sweep the hub idles until the next minute: let the socket drain (not timed). */
    const drain = (): Promise<void> => (listener as AlertListener).waitQuiet(100, 10_000);

    const timed = async (label: string, at: string, sweep: () => Promise<unknown>) => {
      clock.set(at);
      const started = process.hrtime.bigint();
      const profile = values.profile;
      const result = profile === undefined || sweep === realSweep ? await sweep() : await profiled(profile, `counting-${at.replace(/[:.]/g, '')}`, sweep);
      const took = ms(started);
      console.log(`${label.padEnd(50)} ${at.slice(11, 16)}Z ${fmt(took).padStart(10)}  ${JSON.stringify(result)}`);
      return took;
    };
    const [first, second] = doses as [{ dueAt: Date }, { dueAt: Date }];
    /**
     * --taken: that share of the dose's open occurrences marked taken 5 minutes after dueAt, as a
     * dispenser's dose.taken leaves them (written directly: this bench times the sweeps, not ingest).
     */
    const takeSome = async (dueAt: Date): Promise<void> => {
      if (TAKEN === 0) return;
      const { Occurrence } = hub.features.doses.models;
      const open = await Occurrence.find({ dueAt, state: { $in: ['scheduled', 'due'] } }, { _id: 1 }).lean();
      const taking = open.filter((_, index) => index % 100 < TAKEN * 100).map((o) => o._id);
      await Occurrence.updateMany({ _id: { $in: taking } }, { $set: { state: 'taken', takenAt: new Date(dueAt.getTime() + 5 * 60_000), source: 'device', changedAt: new Date(dueAt.getTime() + 5 * 60_000) } });
      console.log(`  ${taking.length} of ${open.length} doses due ${dueAt.toISOString().slice(11, 16)}Z taken on time (--taken ${TAKEN})`);
    };
    const iso = (base: Date, minutes: number) => new Date(base.getTime() + minutes * 60_000).toISOString();
    if (SPREAD > 1) {
      await steady(first.dueAt, second.dueAt);
    } else {
      await timed('first sweep of the process (catch-up range query)', iso(first.dueAt, -6), () => service.sweep());
      await timed('quiet minute (nothing to move)', iso(first.dueAt, -5), () => service.sweep());
      await timed(`08:00 doses (${PATIENTS} patients): scheduled → due`, iso(first.dueAt, 0), () => service.sweep());
      await takeSome(first.dueAt);
      await timed('08:30: on-time window over (dose.late, counting)', iso(first.dueAt, 30), () => service.sweep());
      const worst = await timed(`08:00 doses close → missed/unknown (counting alerts)`, iso(first.dueAt, 60), () => service.sweep());
      console.log(`  ${raisedSoFar()}`);
      await timed('quiet minute after', iso(first.dueAt, 61), () => service.sweep());
      await timed(`12:00 doses (${PATIENTS} patients): scheduled → due`, iso(second.dueAt, 0), () => service.sweep());
      await takeSome(second.dueAt);
      await real.sweep(); // the hub's own service: its catch-up sweep first
      const lateAlerts = await timed('12:30: on-time window over (dose.late, real alerts)', iso(second.dueAt, 30), realSweep);
      await drain();
      const withAlerts = await timed(`12:00 doses close → missed/unknown (real alerts)`, iso(second.dueAt, 60), realSweep);
      await drain();
      console.log(`  ${await storedAlerts()}`);
      console.log(`\nmissed-dose sweep, ${PATIENTS} doses closing in the same minute: ${fmt(worst)} (doses feature), ${fmt(withAlerts)} with the real alerts feature (dose.missed raised, dose.late resolved); the dose.late sweep ${fmt(lateAlerts)}; target < 1000 ms`);
    }
    await latencies();

    /** Spread times: the sweep every simulated minute, as the job runs it. */
    async function steady(firstDue: Date, secondDue: Date): Promise<void> {
      const minutes = async (label: string, from: Date, count: number, sweep: () => Promise<SweepResult>, after?: () => Promise<void>) => {
        const took: number[] = [];
        const totals = { due: 0, late: 0, missed: 0, unknown: 0 };
        for (let minute = 0; minute < count; minute += 1) {
          clock.set(new Date(from.getTime() + minute * 60_000));
          const started = process.hrtime.bigint();
          const result = await sweep();
          took.push(ms(started));
          totals.due += result.due;
          totals.late += result.late ?? 0;
          totals.missed += result.missed;
          totals.unknown += result.unknown;
          await after?.();
        }
        took.sort((a, b) => a - b);
        const mean = took.reduce((a, b) => a + b, 0) / took.length;
        console.log(`${label.padEnd(62)} ${count} sweeps: mean ${fmt(mean)}, p50 ${fmt(took[Math.floor(took.length / 2)]!)}, max ${fmt(took[took.length - 1]!)}  ${JSON.stringify(totals)}`);
        return took[took.length - 1]!;
      };
      await service.sweep(); // catch-up sweep of the process
      const worst = await minutes('08:00–09:59 local, every minute (counting alerts)', new Date(firstDue.getTime() - 60_000), 121, () => service.sweep());
      console.log(`  ${raisedSoFar()}`);
      clock.set(new Date(secondDue.getTime() + 29 * 60_000));
      await real.sweep(); // the hub's own service: its catch-up sweep first
      const withAlerts = await minutes('12:30–13:59 local, the 12:00 doses late, then closing (real alerts)', new Date(secondDue.getTime() + 30 * 60_000), 90, realSweep, drain);
      console.log(`  ${await storedAlerts()}`);
      console.log(`\nsweep every minute, ~${Math.ceil(PATIENTS / SPREAD)} doses due and closing per minute: max ${fmt(worst)} (doses feature), max ${fmt(withAlerts)} with the real alerts feature; target < 1000 ms`);
    }

    async function storedAlerts(): Promise<string> {
      const { Alert, Notification } = hub.features.alerts.models;
      const byType = await Alert.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$type', n: { $sum: 1 } } }]);
      return `alerts stored: ${byType.map((t) => `${t.n} ${t._id}`).join(', ') || 'none'}; notifications recorded: ${await Notification.countDocuments({})}`;
    }

    async function latencies(): Promise<void> {
      console.log(`\nalert → socket latency (the watching caregiver's socket.io-client in its own process; load average ${load()}):`);
      for (const type of ['dose.missed', 'dose.late'] as const) {
        const arrivals = (listener as AlertListener).arrivals.filter((a) => a.type === type);
        const expected = await hub.features.alerts.models.Alert.countDocuments({ type, patientId: { $in: watched.map((id) => new Types.ObjectId(id)) } });
        // Alerts of the timed sweeps only (raisedAt is the sweep's simulated instant); the catch-up sweep's are left out.
        const latencies = arrivals.flatMap((a) => {
          const start = sweepStarts.get(a.raisedAt);
          return start === undefined ? [] : [a.at - start];
        });
        console.log(`  ${type}, sweep start → alert:raised: ${formatDistribution(distribution(latencies))} (${arrivals.length} of ${expected} watched alerts received)`);
      }
      if (DEVICE_SAMPLES <= 0) return;
      const staff = await login(hub.urls.api, adminEmail, PASSWORD); // tokens follow the manual clock, which has moved
      const device = await measureDeviceAlerts({ apiBase: hub.urls.api, mqttUrl: hub.urls.mqtt, staffToken: staff.token, patientId: watched[0] as string, listener: listener as AlertListener, alerts: hub.features.alerts, clock, samples: DEVICE_SAMPLES });
      for (const type of DEVICE_ALERT_TYPES) console.log(`  ${type}, MQTT publish → alert:raised: ${formatDistribution(distribution(device[type]))}`);
      console.log(`load average ${load()}`);
    }
  } finally {
    await listener?.close();
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
