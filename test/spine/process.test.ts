/**
 * The hub as a person runs it: `node src/main.ts` (through tsx) with an
 * environment, reading what it prints and how it exits.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function startMain(env: Record<string, string>, cwd = packageRoot) {
  // tsx by its location: the working directory may be outside the project.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(packageRoot, 'src/main.ts')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code) => resolve({ code, ...output })));
  return { child, output, exited };
}

function tempDataDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'medhub-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function occupiedPort(t: { teardown(fn: () => unknown): void }, port = 0): Promise<number | undefined> {
  const server = net.createServer();
  const bound = await new Promise<number | undefined>((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return bound;
}

t.test('bad configuration: one clear message naming each problem, no stack trace', async (t) => {
  const run = await startMain({ PORT: 'abc', MONGO_URL: 'http://nope', DATA_DIR: tempDataDir(t) }).exited;
  t.equal(run.code, 78);
  t.match(run.stderr, /Invalid configuration:/);
  t.match(run.stderr, /PORT must be integer/);
  t.match(run.stderr, /MONGO_URL must match pattern/);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a .env file in the working directory is read (variables set in the environment win)', async (t) => {
  const dir = tempDataDir(t);
  writeFileSync(join(dir, '.env'), `# as .env.example suggests\nPORT=abc\nMQTT_PORT=not-a-port\nDATA_DIR=${join(dir, 'data')}\n`);
  const main = startMain({ MQTT_PORT: '0' }, dir);
  // Without the file the hub would start and run on: it must not outlive the test.
  t.teardown(() => main.child.kill('SIGKILL'));
  const run = await main.exited;
  t.equal(run.code, 78, 'its values are validated like the environment’s');
  t.match(run.stderr, /PORT must be integer/, 'PORT came from .env');
  t.notMatch(run.stderr, /MQTT_PORT/, 'MQTT_PORT from the environment won over the file');
});

t.test('an explicitly configured port that is taken: clear message, non-zero exit', async (t) => {
  const port = await occupiedPort(t);
  const run = await startMain({ PORT: String(port), MQTT_PORT: '0', DATA_DIR: tempDataDir(t) }).exited;
  t.equal(run.code, 1);
  t.match(run.stderr, `Port ${port} (PORT) is already in use`);
  t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
});

t.test('starts on embedded defaults, falls back from a taken 1883, and exits 0 on Ctrl-C within 5 s', async (t) => {
  // On this machine Mosquitto holds 1883; where it does not, the test holds it.
  await occupiedPort(t, 1883);
  const main = startMain({ PORT: '0', DATA_DIR: tempDataDir(t), NODE_ENV: 'development' });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner: ${main.output.stdout}${main.output.stderr}`)), 20_000);
    main.child.stdout.on('data', () => {
      if (main.output.stdout.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.match(main.output.stdout, /REST API\s+http:\/\/127\.0\.0\.1:\d+\/api\/v1/);
  t.match(main.output.stdout, /MQTT\s+mqtt:\/\/127\.0\.0\.1:(\d+)\s+\(port 1883 was taken\)/);
  t.match(main.output.stdout, /Store\s+embedded/);
  const mqttPort = Number(/MQTT\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(main.output.stdout)?.[1]);
  t.not(mqttPort, 1883);

  const stopped = Date.now();
  main.child.kill('SIGINT');
  const run = await main.exited;
  t.equal(run.code, 0, 'exit code 0');
  t.ok(Date.now() - stopped < 5000, `stopped in ${Date.now() - stopped} ms`);
});
