/**
 * Demo schedules do not run out: the CLI republishes them, with a higher
 * version and a horizon that moves on, every simulated day (as the hub's
 * daily job does), and still removes them on exit.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { HOUR } from '../../firmware-sim/clock.js';
import { packageRoot } from '../../src/paths.js';
import { startBroker } from './helpers/broker.js';
import { until } from './helpers/wait.js';

const root = packageRoot;

t.test('the demo schedule is republished every simulated day with a new version', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'sim-00001';
  // Two simulated days per real second: a day is half a second, the 72-hour horizon a second and a half.
  const args = ['--import', 'tsx', 'firmware-sim/cli.ts', '--url', broker.url, '--devices', '1', '--speed', String(48 * 3600)];
  args.push('--start', '2025-03-01T06:00:00Z', '--demo-schedule', '08:00,20:00', '--summary-every', '60');
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  type Schedule = { version: number; generatedAt: string; validUntil: string; items: { dueAt: string }[] };
  const schedules = () =>
    broker.captured.filter((m) => m.topic === `v1/devices/${id}/schedule` && m.retain && m.payload !== '').map((m) => JSON.parse(m.payload) as Schedule);
  await until(() => schedules().length >= 3, 10_000, 'three publications of the schedule').catch((error: Error) => {
    throw new Error(`${error.message}\n${output}`);
  });
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'exit code 0');

  const published = schedules();
  const versions = published.map((schedule) => schedule.version);
  t.ok(versions.every((version, index) => index === 0 || version > (versions[index - 1] as number)), `versions increase: ${versions.join(', ')}`);
  const [first, second, third] = published as [Schedule, Schedule, Schedule];
  for (const [earlier, later] of [[first, second], [second, third]] as const) {
    const gap = Date.parse(later.generatedAt) - Date.parse(earlier.generatedAt);
    t.ok(gap >= 24 * HOUR && gap < 48 * HOUR, `republished a simulated day later (${(gap / HOUR).toFixed(1)} h)`);
    t.ok(Date.parse(later.validUntil) > Date.parse(earlier.validUntil), 'with a horizon that moved on');
  }
  const lastDue = Math.max(...third.items.map((item) => Date.parse(item.dueAt)));
  t.ok(lastDue > Date.parse(first.validUntil), 'listing doses beyond the first schedule’s end');
  t.match(output, /republished the demo schedule \(version \d+/);
  const cleared = broker.captured.filter((m) => m.topic === `v1/devices/${id}/schedule` && m.retain && m.payload === '');
  t.equal(cleared.length, 1, 'removed from the broker on exit');
});
