/**
 * The CLI as a user runs it: credentials from a file, a broker that checks
 * them, demo schedules, a periodic summary, and a clean exit on SIGINT.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';
import { payloadsOn, startBroker } from './helpers/broker.js';

const root = packageRoot;
const secrets: Record<string, string> = { 'cli-1': 'secret-one', 'cli-2': 'secret-two', 'cli-3': 'secret-three', operator: 'op-secret' };

t.test('runs a fleet from a credentials file and stops cleanly on SIGINT', async (t) => {
  const broker = await startBroker({
    aedes: {
      authenticate(client, username, password, done) {
        const ok = username !== undefined && secrets[username] === password?.toString() && (username === client.id || username === 'operator');
        done(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), ok);
      },
    },
  });
  t.teardown(() => broker.close());
  const dir = await mkdtemp(join(tmpdir(), 'medhub-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const credentials = join(dir, 'creds.json');
  await writeFile(credentials, JSON.stringify(['cli-1', 'cli-2', 'cli-3'].map((id) => ({ id, secret: secrets[id] }))));

  const args = ['--import', 'tsx', 'firmware-sim/cli.ts', '--url', broker.url, '--credentials', credentials, '--scenario', 'forgetful', '--speed', '600'];
  args.push('--demo-schedule', '08:00,20:00', '--operator-username', 'operator', '--operator-password', 'op-secret', '--summary-every', '0.2');
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no summary with all devices connected after the schedules:\n${output}`)), 20_000);
    child.stdout.on('data', () => {
      if (!/published a \d+-dose demo schedule[^]*connected 3\/3/.test(output)) return;
      clearTimeout(timer);
      resolve();
    });
  });
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'exit code 0');
  t.match(output, /3 simulated dispensers → mqtt:\/\/127\.0\.0\.1:\d+ \(scenario forgetful, speed 600×\)/);
  t.match(output, /published a \d+-dose demo schedule/);
  t.match(output, /\| connected 3\/3 \| events \d+ queued, \d+ acked \|/, 'a compact periodic summary');
  t.match(output, /SIGINT: stopping 3 devices…\n.*connected 0\/3/, 'a final summary after stopping');

  const statuses = payloadsOn<{ state: string; reason?: string }>(broker, 'status');
  t.equal(statuses.filter((s) => s.state === 'online').length, 3, 'every device authenticated and came online');
  t.equal(statuses.filter((s) => s.reason === 'shutdown').length, 3, 'and said goodbye');
  const cleared = broker.captured.filter((m) => m.topic.endsWith('/schedule') && m.payload === '' && m.retain);
  t.equal(cleared.length, 3, 'the demo schedules were removed from the broker on exit');
});

t.test('a Ctrl-C while the demo schedules are still being published waits for them and removes them', async (t) => {
  // The operator's first login is held until the CLI has been told to stop.
  let releaseOperator: (() => void) | undefined;
  const operatorHeld = new Promise<void>((resolve) => (releaseOperator = resolve));
  let operatorLogins = 0;
  const broker = await startBroker({
    aedes: {
      authenticate(client, username, password, done) {
        const ok = username !== undefined && secrets[username] === password?.toString() && (username === client.id || username === 'operator');
        const answer = () => done(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), ok);
        if (username === 'operator' && ++operatorLogins === 1) void operatorHeld.then(answer);
        else answer();
      },
    },
  });
  t.teardown(() => broker.close());
  const disconnected = new Set<string>();
  broker.broker.on('clientDisconnect', (client) => disconnected.add(client.id));
  const dir = await mkdtemp(join(tmpdir(), 'medhub-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const credentials = join(dir, 'creds.json');
  await writeFile(credentials, JSON.stringify(['cli-1', 'cli-2'].map((id) => ({ id, secret: secrets[id] }))));

  const args = ['--import', 'tsx', 'firmware-sim/cli.ts', '--url', broker.url, '--credentials', credentials, '--speed', '600'];
  args.push('--demo-schedule', '08:00', '--operator-username', 'operator', '--operator-password', 'op-secret', '--summary-every', '0.2');
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let output = '';
  const seen = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`never printed ${pattern}:\n${output}`)), 20_000);
      const check = () => {
        if (!pattern.test(output)) return;
        clearTimeout(timer);
        resolve();
      };
      child.stdout.on('data', check);
      check();
    });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  await seen(/connected 2\/2/);
  t.notMatch(output, /published a/, 'the schedules are still on their way');
  child.kill('SIGINT');
  await seen(/SIGINT: stopping 2 devices…/);
  // Release the operator only once the devices are gone and the CLI has had time to finish
  // without it: a CLI that does not wait prints its final summary and leaves the schedules.
  while (disconnected.size < 2) await once(broker.broker, 'clientDisconnect');
  await delay(500);
  releaseOperator?.();
  const [code] = (await once(child, 'exit')) as [number | null];
  t.equal(code, 0, 'exit code 0');
  t.match(output, /SIGINT: stopping 2 devices…[^]*published a \d+-dose demo schedule[^]*connected 0\/2/, 'published, then the final summary');
  const retained = broker.captured.filter((m) => m.topic.endsWith('/schedule') && m.retain);
  t.equal(retained.filter((m) => m.payload !== '').length, 2, 'both schedules were published');
  t.equal(retained.filter((m) => m.payload === '').length, 2, 'and both removed again on exit');
});
