/**
 * The schedule builder the simulator uses for demos: local times in an IANA
 * zone become the right UTC instants, across DST changes, within the horizon.
 */
import t from 'tap';
import { HOUR } from '../../firmware-sim/clock.js';
import { buildDailySchedule, zonedToUtc } from '../../firmware-sim/demo-schedule.js';
import { localToUtc } from '../../src/features/doses/zone.js';
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

t.test('a time in a spring-forward gap moves forward, west of UTC too; a repeated time is the first of the two', async (t) => {
  const at = (zone: string, [year, month, day]: [number, number, number], time: [number, number]) =>
    new Date(zonedToUtc({ year, month, day }, time, zone)).toISOString();
  // Chile skips from 00:00 to 01:00 (-04 → -03) on 2025-09-07.
  t.equal(at('America/Santiago', [2025, 9, 7], [0, 0]), '2025-09-07T04:00:00.000Z', 'Santiago 00:00 that night is 01:00 -03, not 23:00 the day before');
  t.equal(at('America/Santiago', [2025, 9, 7], [0, 30]), '2025-09-07T04:30:00.000Z', 'Santiago 00:30 → 01:30 -03');
  t.equal(at('America/New_York', [2025, 3, 9], [2, 30]), '2025-03-09T07:30:00.000Z', 'New York 02:30 → 03:30 EDT');
  t.equal(at('Europe/Paris', [2025, 10, 26], [2, 30]), '2025-10-26T00:30:00.000Z', 'Paris 02:30 happens twice: the first, still CEST');
  t.equal(at('America/New_York', [2025, 11, 2], [1, 30]), '2025-11-02T05:30:00.000Z', 'New York 01:30 happens twice: the first, still EDT');
  t.equal(at('Australia/Sydney', [2025, 4, 6], [2, 30]), '2025-04-05T15:30:00.000Z', 'Sydney 02:30 happens twice: the first, still AEDT');
});

t.test('every local time around each DST change maps to the instant the hub maps it to', async (t) => {
  // Zones on both sides of UTC and both hemispheres, on the days around their 2025 transitions.
  const transitions: [string, string][] = [
    ['America/Santiago', '2025-09-07'],
    ['America/Santiago', '2025-04-06'],
    ['America/New_York', '2025-03-09'],
    ['America/New_York', '2025-11-02'],
    ['Europe/Paris', '2025-03-30'],
    ['Europe/Paris', '2025-10-26'],
    ['Australia/Sydney', '2025-04-06'],
    ['Australia/Sydney', '2025-10-05'],
  ];
  const times = Array.from({ length: 48 }, (_, index) => `${String(Math.floor(index / 2)).padStart(2, '0')}:${index % 2 ? '30' : '00'}`);
  for (const [zone, transition] of transitions) {
    const mismatches: string[] = [];
    for (const shift of [-1, 0, 1]) {
      const day = new Date(Date.parse(`${transition}T12:00:00Z`) + shift * 24 * HOUR).toISOString().slice(0, 10);
      const [year, month, date] = day.split('-').map(Number) as [number, number, number];
      for (const time of times) {
        const [hour, minute] = time.split(':').map(Number) as [number, number];
        const ours = new Date(zonedToUtc({ year, month, day: date }, [hour, minute], zone)).toISOString();
        const hubs = localToUtc(day, time, zone).toISOString();
        if (ours !== hubs) mismatches.push(`${day} ${time}: ${ours}, hub ${hubs}`);
      }
    }
    t.same(mismatches, [], `${zone} around ${transition}: all ${3 * times.length} local times agree with the hub`);
  }
});
