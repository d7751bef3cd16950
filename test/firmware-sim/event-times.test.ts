/**
 * When things happen, as the events say it: an event's `at` is the instant the
 * device acted (its dose's scheduled instant), not when a lagging timer got
 * round to it; and doses run on the device clock, skew included, so a device
 * whose clock is fast acts early by the simulated clock and says the time its
 * own clock showed.
 */
import t from 'tap';
import { MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import type { Scenario } from '../../firmware-sim/scenarios.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { payloadsOn, startBroker, type TestBroker } from './helpers/broker.js';
import { manualClock } from './helpers/clock.js';
import { waitForEvent } from './helpers/wait.js';

type Event = { type: string; at: string; dueAt?: string };

/** The device's dose events on the wire, as [type, at] in the order sent. */
const doseEventTimes = (broker: TestBroker, id: string): string[][] =>
  payloadsOn<Event>(broker, 'events', id)
    .filter((event) => event.type.startsWith('dose.'))
    .map((event) => [event.type, event.at]);

/** Takes every dose one minute after it is due. */
const takesAfterOneMinute: Scenario = { name: 'adherent', planDose: () => ({ outcome: { kind: 'take', afterMs: MINUTE } }) };
const window = { earlyMinutes: 0, lateAfterMinutes: 30, missedAfterMinutes: 120 };

t.test('a dose reported after timer lag carries the instants it was dispensed and taken at', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-lag';
  // The 08:00 dose is due 50 ms after the device has its schedule.
  const clock = manualClock('2025-03-01T07:59:59.950Z');
  const schedule = buildDailySchedule({ version: 1, from: clock.now(), window, doses: [{ time: '08:00', slot: 1, pills: 1 }] });
  await broker.publish(deviceTopic(id, 'schedule'), schedule, { retain: true });
  const device = new SimulatedDispenser({ id, url: broker.url, clock, scenario: takesAfterOneMinute, heartbeatSeconds: 60 });
  t.teardown(() => device.stop());
  const applied = waitForEvent(device, 'schedule-applied');
  await device.start();
  await applied;
  // The event loop stalls: by the time the 08:00 timer runs, the simulated clock reads 08:02:47.
  clock.set('2025-03-01T08:02:47Z');
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'events') && JSON.parse(m.payload).type === 'dose.taken', 5000);

  t.same(
    doseEventTimes(broker, id),
    [
      ['dose.dispensed', '2025-03-01T08:00:00.000Z'],
      ['dose.taken', '2025-03-01T08:01:00.000Z'],
    ],
    'dispensed at 08:00 as scheduled and taken a minute later: on time, whatever the lag',
  );
});

t.test('doses follow the device clock: a clock 40 minutes fast dispenses early and says its own time', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-skewed';
  const skew = 40 * MINUTE;
  // Simulated 06:19:59.950 is 06:59:59.950 on the device: its 07:00 dose is 50 ms away.
  const clock = manualClock('2025-03-01T06:19:59.950Z');
  const schedule = buildDailySchedule({ version: 1, from: clock.now(), window, doses: [{ time: '07:00', slot: 1, pills: 1 }] });
  await broker.publish(deviceTopic(id, 'schedule'), schedule, { retain: true });
  const device = new SimulatedDispenser({ id, url: broker.url, clock, clockSkewMs: skew, scenario: takesAfterOneMinute, heartbeatSeconds: 60 });
  t.teardown(() => device.stop());
  const applied = waitForEvent(device, 'schedule-applied');
  await device.start();
  await applied;
  // A minute later by the simulated clock: 06:21, and 07:01 on the device.
  clock.set('2025-03-01T06:21:00Z');
  const taken = await broker
    .waitFor((m) => m.topic === deviceTopic(id, 'events') && JSON.parse(m.payload).type === 'dose.taken', 5000)
    .then(() => true, () => false);
  t.ok(taken, 'the dose was dispensed and taken by 07:01 device time, 06:21 simulated');

  t.same(
    doseEventTimes(broker, id),
    [
      ['dose.dispensed', '2025-03-01T07:00:00.000Z'],
      ['dose.taken', '2025-03-01T07:01:00.000Z'],
    ],
    'the events say the device clock: due 07:00, dispensed 07:00, taken 07:01 (not 07:40)',
  );
});
