/**
 * Dose sweep benchmark: `npm run bench:doses [-- --patients 10000 --days 3]`.
 *
 * An in-process hub (embedded store in memory, logs off, a ManualClock) seeded directly
 * through the models: `--patients` patients in Europe/Paris, each with a dispenser (9 in 10
 * online since before the doses, 1 in 10 offline) and a plan of 4 doses a day at 08:00,
 * 12:00, 18:00 and 22:00, and the occurrences of `--days` days (the generator keeps 72 h).
 * Every patient shares the same times, so the worst minute is timed: the sweep that moves
 * every patient's 08:00 dose to `due`, and the one an hour later that closes all of them
 * (missed, or unknown for the offline devices). Timed twice: with a counting AlertsApi (the
 * doses feature's own cost) and with the hub's real alerts feature on the 12:00 doses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Types } from 'mongoose';
import { loadConfig } from '../../src/config.js';
import type { AlertsApi } from '../../src/features/alerts/contract.js';
import { expandItems } from '../../src/features/doses/expand.js';
import { DEFAULT_WINDOWS, minuteOf } from '../../src/features/doses/models.js';
import { createDoseService } from '../../src/features/doses/service.js';
import { startHub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';

const { values } = parseArgs({ options: { patients: { type: 'string', default: '10000' }, days: { type: 'string', default: '3' }, spread: { type: 'string', default: '1' } } });
/** Patient i's dose times are shifted by i % SPREAD minutes: 1 = everyone at the same minute (the worst case). */
const SPREAD = Math.max(1, Number(values.spread));
const PATIENTS = Number(values.patients);
const DAYS = Number(values.days);
const ZONE = 'Europe/Paris';
const TIMES = ['08:00', '12:00', '18:00', '22:00'];
const START = '2026-11-23';

const ms = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e6;
const fmt = (value: number): string => `${value.toFixed(1)} ms`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-bench-doses-'));
  const clock = new ManualClock('2026-11-23T00:00:00Z');
  const config = loadConfig({ NODE_ENV: 'test', HOST: '127.0.0.1', PORT: '0', MQTT_PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'silent', JWT_SECRET: 'bench-secret-bench-secret-bench-secret' });
  const hub = await startHub({ config, clock, inMemoryStore: true });
  await hub.context.jobs.stop(); // the bench calls the job bodies itself
  try {
    const { Patient } = hub.features.identity.models;
    const { Device } = hub.features.devices.models;
    const { Plan, Occurrence } = hub.features.doses.models;
    const organisationId = new Types.ObjectId();
    const before = new Date('2026-11-22T00:00:00Z');

    console.log(`medhub bench:doses — ${PATIENTS} patients × ${TIMES.length} doses/day × ${DAYS} days, times spread over ${SPREAD} minute(s); node ${process.version}, ${cpus().length} cpus, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
    const seedStarted = process.hrtime.bigint();
    const shifted = (offset: number): string[] => TIMES.map((time) => {
      const [h, m] = time.split(':').map(Number) as [number, number];
      const total = h * 60 + m + offset;
      return `${String(Math.floor(total / 60) % 24).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
    });
    const expansions = new Map<number, ReturnType<typeof expandItems>>();
    const dosesFor = (offset: number) => {
      let cached = expansions.get(offset);
      if (!cached) expansions.set(offset, (cached = expandItems([{ id: 'daily', medicationId: 'm1', times: shifted(offset), startDate: START }], ZONE, new Date(`${START}T00:00:00Z`), new Date(Date.parse(`${START}T00:00:00Z`) + DAYS * 86_400_000 - 3_600_000))));
      return cached;
    };
    const doses = dosesFor(0);
    const BATCH = 500;
    for (let first = 0; first < PATIENTS; first += BATCH) {
      const ids = Array.from({ length: Math.min(BATCH, PATIENTS - first) }, () => new Types.ObjectId());
      await Patient.insertMany(ids.map((_id, i) => ({ _id, organisationId, name: `Patient ${first + i}`, timezone: ZONE })), { lean: true });
      await Device.insertMany(
        ids.map((patientId, i) => ({ _id: `bench-${first + i}`, organisationId, patientId, serial: `SN-${first + i}`, secretHash: 'x', disabled: false, heartbeatTimeoutSeconds: 86_400 * 30, status: { online: Math.floor((first + i) / SPREAD) % 10 !== 0, changedAt: before, lastSeenAt: before } })),
        { lean: true },
      );
      const planIds = ids.map(() => new Types.ObjectId());
      await Plan.insertMany(
        ids.map((patientId, i) => ({
          _id: planIds[i],
          organisationId,
          patientId,
          timezone: ZONE,
          windows: DEFAULT_WINDOWS,
          medications: [{ id: 'm1', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 200, criticality: 'normal' }],
          schedule: [{ id: 'daily', medicationId: 'm1', times: shifted((first + i) % SPREAD), startDate: START }],
          generatedUntil: new Date(`${START}T00:00:00Z`),
        })),
        { lean: true },
      );
      const occurrences = ids.flatMap((patientId, i) =>
        dosesFor((first + i) % SPREAD).map((dose) => ({
          organisationId,
          patientId,
          planId: planIds[i],
          itemId: dose.itemId,
          medicationId: 'm1',
          slot: 1,
          pills: 1,
          critical: false,
          dueAt: dose.dueAt,
          localDate: dose.localDate,
          window: DEFAULT_WINDOWS,
          missedAt: new Date(dose.dueAt.getTime() + DEFAULT_WINDOWS.missedAfterMinutes * 60_000),
          dueMinute: minuteOf(dose.dueAt),
          missedMinute: minuteOf(dose.dueAt) + DEFAULT_WINDOWS.missedAfterMinutes,
          state: 'scheduled',
          changedAt: before,
        })),
      );
      await Occurrence.insertMany(occurrences, { lean: true });
    }
    console.log(`seeded ${await Occurrence.estimatedDocumentCount()} occurrences in ${(ms(seedStarted) / 1000).toFixed(1)} s`);

    let raised = 0;
    const counting: AlertsApi = {
      raise: async (alert) => ({ id: String((raised += 1)), cause: alert.cause, status: 'active' }),
      raiseMany: async (alerts) => alerts.map((alert) => ({ id: String((raised += 1)), cause: alert.cause, status: 'active' })),
      resolveCause: async () => null,
    };
    const service = createDoseService({
      models: hub.features.doses.models,
      identity: hub.features.identity,
      devices: hub.features.devices,
      alerts: counting,
      sockets: hub.context.sockets,
      clock,
      logger: hub.context.logger,
    });

    const timed = async (label: string, at: string, sweep: () => Promise<unknown>) => {
      clock.set(at);
      const started = process.hrtime.bigint();
      const result = await sweep();
      const took = ms(started);
      console.log(`${label.padEnd(50)} ${at.slice(11, 16)}Z ${fmt(took).padStart(10)}  ${JSON.stringify(result)}`);
      return took;
    };
    const [first, second] = doses as unknown as [{ dueAt: Date }, { dueAt: Date }];
    const iso = (base: Date, minutes: number) => new Date(base.getTime() + minutes * 60_000).toISOString();
    if (SPREAD > 1) {
      await steady(first.dueAt, second.dueAt);
    } else {
      await timed('first sweep of the process (catch-up range query)', iso(first.dueAt, -6), () => service.sweep());
      await timed('quiet minute (nothing to move)', iso(first.dueAt, -5), () => service.sweep());
      await timed(`08:00 doses (${Math.ceil(PATIENTS / SPREAD)} patients): scheduled → due`, iso(first.dueAt, 0), () => service.sweep());
      await timed('quiet minute while due', iso(first.dueAt, 30), () => service.sweep());
      const worst = await timed(`08:00 doses close → missed/unknown (counting alerts)`, iso(first.dueAt, 60), () => service.sweep());
      console.log(`  alerts raised: ${raised}`);
      await timed('quiet minute after', iso(first.dueAt, 61), () => service.sweep());
      await timed(`12:00 doses (${Math.ceil(PATIENTS / SPREAD)} patients): scheduled → due`, iso(second.dueAt, 0), () => service.sweep());
      await hub.features.doses.service.sweep(); // the hub's own service: its catch-up sweep first
      const real = await timed(`12:00 doses close → missed/unknown (real alerts)`, iso(second.dueAt, 60), () => hub.features.doses.service.sweep());
      console.log(`  alerts stored: ${await hub.features.alerts.models.Alert.countDocuments({})}`);
      console.log(`\nmissed-dose sweep, ${Math.ceil(PATIENTS / SPREAD)} doses closing in the minute: ${fmt(worst)} (doses feature), ${fmt(real)} with the real alerts feature; target < 1000 ms`);
    }

    /** Spread times: the sweep every simulated minute, as the job runs it. */
    async function steady(firstDue: Date, secondDue: Date): Promise<void> {
      const minutes = async (label: string, from: Date, count: number, sweep: () => Promise<{ due: number; missed: number; unknown: number }>) => {
        const took: number[] = [];
        const totals = { due: 0, missed: 0, unknown: 0 };
        for (let minute = 0; minute < count; minute += 1) {
          clock.set(new Date(from.getTime() + minute * 60_000));
          const started = process.hrtime.bigint();
          const result = await sweep();
          took.push(ms(started));
          totals.due += result.due;
          totals.missed += result.missed;
          totals.unknown += result.unknown;
        }
        took.sort((a, b) => a - b);
        const mean = took.reduce((a, b) => a + b, 0) / took.length;
        console.log(`${label.padEnd(62)} ${count} sweeps: mean ${fmt(mean)}, p50 ${fmt(took[Math.floor(took.length / 2)]!)}, max ${fmt(took[took.length - 1]!)}  ${JSON.stringify(totals)}`);
        return took[took.length - 1]!;
      };
      await service.sweep(); // catch-up sweep of the process
      const worst = await minutes('08:00–09:59 local, every minute (counting alerts)', new Date(firstDue.getTime() - 60_000), 121, () => service.sweep());
      console.log(`  alerts raised: ${raised}`);
      clock.set(new Date(secondDue.getTime() + 59 * 60_000));
      await hub.features.doses.service.sweep();
      const real = await minutes('13:00–13:59 local, the 12:00 doses closing (real alerts)', new Date(secondDue.getTime() + 60 * 60_000), 60, () => hub.features.doses.service.sweep());
      console.log(`  alerts stored: ${await hub.features.alerts.models.Alert.countDocuments({})}`);
      console.log(`\nsweep every minute, ~${Math.ceil(PATIENTS / SPREAD)} doses due and closing per minute: max ${fmt(worst)} (doses feature), max ${fmt(real)} with the real alerts feature; target < 1000 ms`);
    }
  } finally {
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
