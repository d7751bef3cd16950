/**
 * A restart of the simulator does not dispense a dose again. The device keeps,
 * next to its persisted outbox, the schedule it follows, what it did with each
 * of its doses and its slot levels; the restarted device carries on from
 * there: the dose whose pills are in the tray ends once, stock goes down once,
 * and it reports the version it follows from its first heartbeat.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import type { SimClock } from '../../firmware-sim/clock.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import type { DeviceEvent } from '../../firmware-sim/payloads.js';
import type { Scenario } from '../../firmware-sim/scenarios.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { payloadsOn, startBroker } from './helpers/broker.js';
import { manualClock } from './helpers/clock.js';
import { until, waitForEvent } from './helpers/wait.js';

type Event = { eventId: string; type: string; at: string; dueAt?: string };
type Heartbeat = { appliedScheduleVersion: number; slots: { slot: number; pills: number }[] };

/** The patient never takes the pills: they wait in the tray until the window closes. */
const neverTakes: Scenario = { name: 'forgetful', planDose: () => ({ outcome: { kind: 'ignore' } }) };

/** A broker, a directory for the device's outbox and state, and the device's options (a new process each time they are used). */
async function rig(t: Test, id: string, clock: SimClock, scenario: Scenario, pillsPerSlot = 10) {
  const dir = await mkdtemp(join(tmpdir(), 'medhub-sim-restart-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const options = { id, url: broker.url, clock, scenario, heartbeatSeconds: 60, slots: { count: 2, pillsPerSlot }, outbox: { file: join(dir, `${id}.json`) } };
  return { broker, options };
}

/** The retained schedule: one dose of `pills` from slot 1 at 08:00, its window closing two hours later. */
async function morningDose(broker: Awaited<ReturnType<typeof startBroker>>, id: string, clock: SimClock, version: number, pills: number): Promise<void> {
  const window = { earlyMinutes: 0, lateAfterMinutes: 30, missedAfterMinutes: 120 };
  await broker.publish(deviceTopic(id, 'schedule'), buildDailySchedule({ version, from: clock.now(), window, doses: [{ time: '08:00', slot: 1, pills }] }), { retain: true });
}

/** A device that applies the schedule, dispenses the 08:00 dose, sees it stored, and is killed. */
async function dispenseThenKill(options: ConstructorParameters<typeof SimulatedDispenser>[0], clock: ReturnType<typeof manualClock>): Promise<void> {
  const before = new SimulatedDispenser(options);
  let dispensedId: string | undefined;
  before.on('queued', (event: DeviceEvent) => {
    if (event.type === 'dose.dispensed') dispensedId = event.eventId;
  });
  const applied = waitForEvent(before, 'schedule-applied');
  await before.start();
  await applied;
  clock.set('2025-03-01T08:00:00Z');
  await until(() => dispensedId !== undefined && before.acknowledgedEventIds().includes(dispensedId), 5000, 'the 08:00 dose to be dispensed and stored');
  await before.stop({ graceful: false }); // killed with the pills in the tray
}

t.test('a restarted device neither dispenses an open dose again nor forgets what it follows', async (t) => {
  const id = 'dev-restarted';
  const clock = manualClock('2025-03-01T07:59:59.950Z');
  const { broker, options } = await rig(t, id, clock, neverTakes);
  await morningDose(broker, id, clock, 4, 2);
  await dispenseThenKill(options, clock);

  // It comes back just before the dose's window closes at 10:00.
  clock.set('2025-03-01T09:59:59.950Z');
  const mark = broker.captured.length;
  const after = new SimulatedDispenser(options);
  t.teardown(() => after.stop());
  const connected = waitForEvent(after, 'connected');
  await after.start();
  await connected;
  await until(() => after.appliedScheduleVersion === 4, 5000, 'the restarted device to follow version 4');
  clock.set('2025-03-01T10:00:00Z'); // the window closes
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'events') && JSON.parse(m.payload).type === 'dose.missed', 5000);
  await until(() => after.pendingEventIds().length === 0, 5000, 'the outbox to drain');

  const doseEvents = payloadsOn<Event>(broker, 'events', id).filter((event) => event.type.startsWith('dose.'));
  t.same(
    doseEvents.map((event) => `${event.type} ${event.dueAt} at ${event.at}`),
    ['dose.dispensed 2025-03-01T08:00:00.000Z at 2025-03-01T08:00:00.000Z', 'dose.missed 2025-03-01T08:00:00.000Z at 2025-03-01T10:00:00.000Z'],
    'dispensed once (before the restart), missed once (after it)',
  );
  const [firstBeat] = broker.captured.slice(mark).filter((m) => m.topic === deviceTopic(id, 'heartbeat')).map((m) => JSON.parse(m.payload) as Heartbeat);
  t.equal(firstBeat?.appliedScheduleVersion, 4, 'the first heartbeat after the restart already reports the version it follows');
  t.same(firstBeat?.slots, [{ slot: 1, pills: 8 }, { slot: 2, pills: 10 }], 'and the stock the dose left: two pills out of slot 1, once');
});

/** The patient takes the pills ten minutes after they are dispensed. */
const takesAfterTen: Scenario = { name: 'adherent', planDose: () => ({ outcome: { kind: 'take', afterMs: 10 * 60_000 } }) };

t.test('a device that was off when the window closed reports the dose missed, not taken, when it is back', async (t) => {
  const id = 'dev-off-past-window';
  const clock = manualClock('2025-03-01T07:59:59.950Z');
  const { broker, options } = await rig(t, id, clock, takesAfterTen);
  await morningDose(broker, id, clock, 2, 1);
  await dispenseThenKill(options, clock); // off before the patient's take at 08:10

  clock.set('2025-03-01T11:00:00Z'); // back an hour after the window closed (10:00)
  const after = new SimulatedDispenser(options);
  t.teardown(() => after.stop());
  await after.start();
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'events') && JSON.parse(m.payload).type !== 'device.reboot' && JSON.parse(m.payload).type !== 'dose.dispensed', 5000);
  await until(() => after.pendingEventIds().length === 0, 5000, 'the outbox to drain');
  const doseEvents = payloadsOn<Event>(broker, 'events', id).filter((event) => event.type.startsWith('dose.'));
  t.same(doseEvents.map((event) => `${event.type} at ${event.at}`), ['dose.dispensed at 2025-03-01T08:00:00.000Z', 'dose.missed at 2025-03-01T11:00:00.000Z'], 'missed, noticed at boot; never taken');
});

t.test('a refill is kept across a restart', async (t) => {
  const id = 'dev-refilled';
  const clock = manualClock('2025-03-01T07:00:00Z');
  const { broker, options } = await rig(t, id, clock, neverTakes, 3);
  const before = new SimulatedDispenser(options);
  await before.start();
  before.refill(2, 30);
  await before.stop();

  const mark = broker.captured.length;
  const after = new SimulatedDispenser(options);
  t.teardown(() => after.stop());
  await after.start();
  await until(() => broker.captured.slice(mark).some((m) => m.topic === deviceTopic(id, 'heartbeat')), 5000, 'the restarted device’s first heartbeat');
  const [beat] = broker.captured.slice(mark).filter((m) => m.topic === deviceTopic(id, 'heartbeat')).map((m) => JSON.parse(m.payload) as Heartbeat);
  t.same(beat?.slots, [{ slot: 1, pills: 3 }, { slot: 2, pills: 30 }], 'the refilled slot as refilled');
});

t.test('a command delivered again after a restart is answered with its first outcome, not carried out twice', async (t) => {
  const id = 'dev-commanded';
  const clock = manualClock('2025-03-01T07:00:00Z');
  const { broker, options } = await rig(t, id, clock, neverTakes);
  const dispense = { commandId: 'cmd-once-only', type: 'dispense_now', params: { slot: 1, pills: 2 }, issuedAt: '2025-03-01T06:59:00Z', expiresAt: '2025-03-01T08:00:00Z' };
  const acksOf = () => payloadsOn<{ commandId: string; status: string; at: string }>(broker, 'acks', id).filter((ack) => ack.commandId === dispense.commandId);

  const before = new SimulatedDispenser(options);
  const connected = waitForEvent(before, 'connected');
  await before.start();
  await connected;
  await broker.publish(deviceTopic(id, 'commands'), dispense);
  await until(() => acksOf().length === 1, 5000, 'the first ack');
  await before.stop();

  // The broker delivers it again (a QoS 1 duplicate, or a redelivery whose PUBACK the restart lost).
  clock.set('2025-03-01T07:05:00Z');
  const after = new SimulatedDispenser(options);
  t.teardown(() => after.stop());
  const back = waitForEvent(after, 'connected');
  await after.start();
  await back;
  await broker.publish(deviceTopic(id, 'commands'), dispense);
  await until(() => acksOf().length === 2, 5000, 'the second ack');
  const [first, second] = acksOf();
  t.same(second, first, 'the very same outcome');
  t.match(first, { status: 'succeeded' });
  const dispensed = payloadsOn<Event & { commandId?: string }>(broker, 'events', id).filter((event) => event.type === 'dose.dispensed' && event.commandId === dispense.commandId);
  t.equal(dispensed.length, 1, 'dispensed once');
});
