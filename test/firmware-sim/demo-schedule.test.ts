/**
 * The schedule builder the simulator uses for demos: local times in an IANA
 * zone become the right UTC instants, across DST changes, within the horizon.
 */
import t from 'tap';
import { HOUR } from '../../firmware-sim/clock.js';
import { buildDailySchedule, zonedToUtc } from '../../firmware-sim/demo-schedule.js';
import { validatorFor } from './helpers/schemas.js';

t.test('local wall-clock times become UTC instants, DST included', async (t) => {
  const paris = (day: number, month: number, time: [number, number]) => new Date(zonedToUtc({ year: 2025, month, day, }, time, 'Europe/Paris')).toISOString();
  t.equal(paris(29, 3, [8, 0]), '2025-03-29T07:00:00.000Z', 'winter: UTC+1');
  t.equal(paris(30, 3, [8, 0]), '2025-03-30T06:00:00.000Z', 'the morning after spring-forward: UTC+2');
  t.equal(paris(30, 3, [2, 30]), '2025-03-30T01:30:00.000Z', '02:30 does not exist that night; it lands at 03:30 local');
  t.equal(paris(26, 10, [8, 0]), '2025-10-26T07:00:00.000Z', 'after fall-back: UTC+1 again');
  const ny = new Date(zonedToUtc({ year: 2025, month: 7, day: 4 }, [20, 0], 'America/New_York')).toISOString();
  t.equal(ny, '2025-07-05T00:00:00.000Z', 'crosses midnight UTC');
});

t.test('a daily schedule lists every dose of the horizon, sorted, and validates', async (t) => {
  const from = Date.parse('2025-03-29T12:00:00Z');
  const schedule = buildDailySchedule({
    version: 9,
    from,
    hours: 48,
    timezone: 'Europe/Paris',
    doses: [
      { time: '20:00', slot: 2, pills: 1 },
      { time: '08:00', slot: 1, pills: 2 },
    ],
  });
  t.ok(validatorFor('schedule.json')(schedule), 'valid against schedule.json');
  t.same(
    schedule.items.map((item) => `${item.dueAt} #${item.slot}`),
    ['2025-03-29T19:00:00.000Z #2', '2025-03-30T06:00:00.000Z #1', '2025-03-30T18:00:00.000Z #2', '2025-03-31T06:00:00.000Z #1'],
  );
  t.equal(schedule.validUntil, new Date(from + 48 * HOUR).toISOString());
  t.equal(new Set(schedule.items.map((item) => item.occurrenceId)).size, 4, 'one occurrence id per dose');
});
