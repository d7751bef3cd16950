/**
 * Scenarios over a simulated day, run in a few real seconds with a fast clock:
 * each produces the dose events its name promises, every dose ends exactly
 * once, and a seed makes a run reproducible.
 *
 * The simulated day starts once every device has its schedule, and its clock
 * leaves out the stalls of a loaded machine (see steadyRealTime): at this speed
 * a 0.14 s stall is 25 simulated minutes, enough to make an on-time dose late
 * or to let the first doses' window close before the devices were connected.
 */
import t from 'tap';
import { createSimClock, HOUR, MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { startFleet } from '../../firmware-sim/fleet.js';
import type { ScenarioName } from '../../firmware-sim/scenarios.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { payloadsOn, startBroker } from './helpers/broker.js';
import { until } from './helpers/wait.js';

type Event = { type: string; slot?: number; dueAt?: string; at: string; reason?: string };

const start = Date.parse('2025-03-01T06:00:00Z');
const end = start + 24 * HOUR;
// A simulated day in about eight real seconds: half an hour (the late threshold) is ~170 ms of
// real time. Timer lag on a loaded machine (other test files run alongside) can be that long, which
// is why the clock runs on steadyRealTime below.
const speed = (24 * HOUR) / 8000;
// The most real time the simulated clock counts between two of its readings (~3.6 simulated minutes).
const maxStepMs = 20;
const window = { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 120 };
const schedule = buildDailySchedule({
  version: 1,
  from: start,
  hours: 24,
  window,
  doses: ['08:00', '12:00', '18:00', '22:00'].flatMap((time) => [
    { time, slot: 1, pills: 1 },
    { time, slot: 2, pills: 1 },
  ]),
});
const doseCount = schedule.items.length;
const closing = new Set(['dose.taken', 'dose.skipped', 'dose.missed']);
const doseKey = (event: Event) => `${event.slot}@${event.dueAt}`;

/**
 * Real time for the simulated clock (createSimClock's realNow): 0 until start(), then it follows
 * Date.now() but counts at most maxStepMs between two readings, so a stall of the process (a loaded
 * CPU, a GC pause) slows the simulated day down instead of jumping it forward past timers that
 * could not fire. A ticker reads it every few ms, so on a responsive process it keeps real pace.
 */
function steadyRealTime() {
  let elapsed = 0;
  let last: number | undefined;
  const now = (): number => {
    if (last === undefined) return 0;
    const real = Date.now();
    elapsed += Math.min(real - last, maxStepMs);
    last = real;
    return elapsed;
  };
  const ticker = setInterval(now, 5);
  return {
    now,
    start: () => void (last = Date.now()),
    stop: () => clearInterval(ticker),
  };
}

t.test('a simulated day per scenario', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const realTime = steadyRealTime();
  t.teardown(realTime.stop);
  const clock = createSimClock({ startAt: start, speed, realNow: realTime.now });
  const ids: Record<string, ScenarioName> = {
    'sim-adherent': 'adherent',
    'sim-forgetful': 'forgetful',
    'sim-offline': 'offline-spells',
    'sim-jammy': 'jammy',
  };
  for (const id of Object.keys(ids)) await broker.publish(deviceTopic(id, 'schedule'), schedule, { retain: true });

  // A second broker hosts a twin of the forgetful device: same id, same seed.
  const twinBroker = await startBroker();
  t.teardown(() => twinBroker.close());
  await twinBroker.publish(deviceTopic('sim-forgetful', 'schedule'), schedule, { retain: true });

  // One fleet per scenario, sharing the clock.
  const fleetOn = (url: string, scenario: ScenarioName, ids: string[]) =>
    startFleet({
      url,
      clock,
      scenario,
      scenarioOptions: { missRate: 0.4, lateRate: 0.5, offlineRate: 1, jamRate: 0.4 },
      seed: 7,
      credentials: ids.map((id) => ({ id })),
      heartbeatSeconds: 60,
      backoff: { initialMs: 50, maxMs: 500 },
    });
  const scenarios = ['adherent', 'forgetful', 'offline-spells', 'jammy'] as const;
  const fleets = scenarios.map((scenario) => fleetOn(broker.url, scenario, Object.keys(ids).filter((id) => ids[id] === scenario)));
  fleets.push(fleetOn(twinBroker.url, 'forgetful', ['sim-forgetful']));
  t.teardown(() => Promise.all(fleets.map((fleet) => fleet.stop())));
  await Promise.all(fleets.map((fleet) => fleet.started));
  const devices = fleets.flatMap((fleet) => fleet.devices);
  // The day begins at 06:00 for everyone once every device follows the schedule.
  await until(() => devices.every((device) => device.appliedScheduleVersion === schedule.version), 20_000, 'every device to apply the schedule');
  t.equal(clock.now(), start, 'the simulated clock waited for the devices');
  realTime.start();
  // About 8 s; the deadlines only guard against a hang.
  await until(() => clock.now() > end, 60_000, 'the simulated day to pass');
  await until(() => devices.every((device) => device.pendingEventIds().length === 0), 20_000, 'every outbox to drain');

  const eventsOf = (id: string, on = broker) => payloadsOn<Event>(on, 'events', id).filter((event) => event.type !== 'device.reboot');
  const late = (event: Event) => Date.parse(event.at) - Date.parse(event.dueAt as string) > window.lateAfterMinutes * MINUTE;

  for (const id of Object.keys(ids)) {
    t.test(`${id}: every dose ends exactly once`, async (t) => {
      const closed = eventsOf(id).filter((event) => closing.has(event.type)).map(doseKey);
      t.equal(closed.length, doseCount);
      t.equal(new Set(closed).size, doseCount);
    });
  }

  t.test('adherent: dispensed and taken on time, every time', async (t) => {
    const events = eventsOf('sim-adherent');
    t.equal(events.filter((e) => e.type === 'dose.dispensed').length, doseCount);
    const taken = events.filter((e) => e.type === 'dose.taken');
    t.equal(taken.length, doseCount);
    t.notOk(taken.some(late), 'none late');
  });

  t.test('forgetful: some missed, some late, reproducible from the seed', async (t) => {
    const events = eventsOf('sim-forgetful');
    const missed = events.filter((e) => e.type === 'dose.missed');
    t.ok(missed.length > 0 && missed.length < doseCount, `${missed.length} of ${doseCount} missed`);
    t.ok(missed.every((e) => e.reason === 'not_taken'), 'dispensed, never taken');
    t.ok(events.some((e) => e.type === 'dose.taken' && late(e)), 'some taken late');
    const outcome = (on: typeof broker) => eventsOf('sim-forgetful', on).filter((e) => closing.has(e.type)).map((e) => `${e.type} ${doseKey(e)}`);
    t.same(outcome(twinBroker).sort(), outcome(broker).sort(), 'same id and seed, same day');
  });

  t.test('jammy: each jam is followed by a missed dose that could not be dispensed', async (t) => {
    const events = eventsOf('sim-jammy');
    const jams = events.filter((e) => e.type === 'device.jam');
    t.ok(jams.length > 0, `${jams.length} jams`);
    const failed = new Set(events.filter((e) => e.type === 'dose.missed' && e.reason === 'dispense_failed').map(doseKey));
    t.same(new Set(jams.map(doseKey)), failed);
  });

  t.test('offline-spells: the device drops off around doses and delivers what happened later', async (t) => {
    const statuses = payloadsOn<{ state: string; reason?: string }>(broker, 'status', 'sim-offline');
    const lost = statuses.filter((s) => s.state === 'offline' && s.reason === 'connection_lost').length;
    t.ok(lost >= 1, `${lost} Last Wills published`);
    const offline = devices.find((device) => device.id === 'sim-offline');
    t.ok((offline?.stats().connects ?? 0) > lost, 'and it came back each time');
    t.equal(eventsOf('sim-offline').filter((e) => e.type === 'dose.taken').length, doseCount, 'no dose lost to the outages');
  });
});
