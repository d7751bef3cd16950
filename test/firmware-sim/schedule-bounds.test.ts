/**
 * The simulator reads a schedule with the contract's own bounds: whatever
 * schemas/mqtt/schedule.json accepts, the device follows, and what it refuses,
 * the device ignores. A bound widened in the schema (earlyMinutes went from
 * 240 to 720) must not leave the device following nothing.
 */
import t from 'tap';
import { createSimClock } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { readSchedule } from '../../firmware-sim/inbound.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { startBroker } from './helpers/broker.js';
import { readSchemas, validatorFor } from './helpers/schemas.js';
import { waitForEvent } from './helpers/wait.js';

type Node = { minimum?: number; maximum?: number; properties?: Record<string, Node>; items?: Node };
const schedule = readSchemas('mqtt').get('schedule.json') as unknown as Node;
const windowSchema = schedule.properties?.items?.items?.properties?.window?.properties as Record<string, Node>;
const windowKeys = ['earlyMinutes', 'lateAfterMinutes', 'missedAfterMinutes'] as const;

const baseItem = () => ({ slot: 1, pills: 1, dueAt: '2025-03-01T08:00:00Z', window: { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 120 } });
const withWindow = (key: (typeof windowKeys)[number], value: number) => {
  const item = baseItem();
  item.window[key] = value;
  return { version: 7, timezone: 'UTC', generatedAt: '2025-03-01T00:00:00Z', validUntil: '2025-03-04T00:00:00Z', items: [item] };
};

t.test('readSchedule accepts exactly what schedule.json accepts at every window bound', async (t) => {
  const validate = validatorFor('schedule.json');
  for (const key of windowKeys) {
    const { minimum, maximum } = windowSchema[key] as Node;
    t.type(minimum, 'number', `${key} has a minimum in the schema`);
    t.type(maximum, 'number', `${key} has a maximum in the schema`);
    for (const value of [(minimum as number) - 1, minimum as number, maximum as number, (maximum as number) + 1]) {
      const payload = withWindow(key, value);
      const schemaSays = validate(payload) as boolean;
      t.equal(readSchedule(payload) !== undefined, schemaSays, `${key} = ${value}: the schema ${schemaSays ? 'accepts' : 'refuses'} it, so does the device`);
    }
  }
});

t.test('a device follows a schedule whose window uses the widest bounds the contract allows', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-wide-window';
  const from = Date.parse('2025-03-01T06:00:00Z');
  const max = (key: (typeof windowKeys)[number]) => (windowSchema[key] as Node).maximum as number;
  const wide = buildDailySchedule({
    version: 11,
    from,
    doses: [{ time: '20:00', slot: 1, pills: 1 }],
    window: { earlyMinutes: max('earlyMinutes'), lateAfterMinutes: max('lateAfterMinutes'), missedAfterMinutes: max('missedAfterMinutes') },
  });
  t.ok(validatorFor('schedule.json')(wide), 'the schedule is valid against the contract');
  await broker.publish(deviceTopic(id, 'schedule'), wide, { retain: true });

  // Either the device applies the schedule or it logs it as unreadable: the test waits for whichever comes first.
  let ignored: (verdict: string) => void = () => {};
  const ignoredAsUnreadable = new Promise<string>((resolve) => (ignored = resolve));
  const device = new SimulatedDispenser({
    id,
    url: broker.url,
    clock: createSimClock({ startAt: from, speed: 1 }),
    heartbeatSeconds: 60,
    logger: (_level, message) => {
      if (message === 'unreadable schedule ignored') ignored('ignored as unreadable');
    },
  });
  t.teardown(() => device.stop());
  const outcome = Promise.race([waitForEvent<[number]>(device, 'schedule-applied').then(([version]) => `applied ${version}`), ignoredAsUnreadable]);
  await device.start();
  t.equal(await outcome, 'applied 11', 'the schedule is followed');
  t.equal(device.appliedScheduleVersion, 11);
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'heartbeat') && JSON.parse(m.payload).appliedScheduleVersion === 11);
});
