/**
 * A medhub hub in a child process (`node --import tsx src/main.ts`), as an
 * operator runs it: configured by environment, found through the banner it
 * prints, killed or stopped by signal. Used by the ingest benchmark and by the
 * devices crash test, which both need the hub in another process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { collectGarbage, INSPECT_ARG, inspectorUrl, sampleAllocations, type AllocationSample } from './inspector.js';
import { packageRoot } from '../../../src/paths.js';

export const repoRoot = packageRoot;

export interface HubProcessOptions {
  dataDir: string;
  /** 0 = any free port (the banner tells which). */
  httpPort?: number;
  mqttPort?: number;
  adminEmail: string;
  adminPassword: string;
  jwtSecret: string;
  logLevel?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Start the hub with the inspector on a free loopback port, so `collectGarbage()` works. */
  inspect?: boolean;
  /** More environment (wins over the defaults above). */
  env?: Record<string, string | undefined>;
  /** Banner wait (default 30 s). */
  startTimeoutMs?: number;
  /** Checkout to run the hub from (default this one), e.g. a git worktree of another commit for an A/B comparison. */
  root?: string;
}

export interface HubProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly httpPort: number;
  readonly mqttPort: number;
  /** http://127.0.0.1:PORT */
  readonly http: string;
  /** http://127.0.0.1:PORT/api/v1 */
  readonly api: string;
  /** mqtt://127.0.0.1:PORT */
  readonly mqtt: string;
  /** The embedded store's connection string, when it runs one. */
  readonly storeUri: string | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines the hub wrote on stderr (and log lines on stdout), for diagnostics. */
  output(): string;
  /** A full garbage collection in the hub (needs `inspect: true`). */
  collectGarbage(): Promise<void>;
  /** What the hub allocates in the next `ms`, garbage included, or only what young-generation collections kept (needs `inspect: true`; see sampleAllocations). */
  sampleAllocations(ms: number, survivorsOnly?: boolean): Promise<AllocationSample>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful stop), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

const OUTPUT_LINES = 60;

export async function startHubProcess(options: HubProcessOptions): Promise<HubProcess> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(options.httpPort ?? 0),
    MQTT_PORT: String(options.mqttPort ?? 0),
    DATA_DIR: options.dataDir,
    // BENCH_HUB_LOG_LEVEL=info: the hub's own log lines too (with BENCH_HUB_OUTPUT, to line them up with a run).
    LOG_LEVEL: options.logLevel ?? process.env.BENCH_HUB_LOG_LEVEL ?? 'warn',
    JWT_SECRET: options.jwtSecret,
    ADMIN_EMAIL: options.adminEmail,
    ADMIN_PASSWORD: options.adminPassword,
    ...options.env,
  };
  const child = spawn(process.execPath, [...(options.inspect ? [INSPECT_ARG] : []), ...(options.nodeArgs ?? []), '--import', 'tsx', 'src/main.ts'], {
    cwd: options.root ?? repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const tail: string[] = [];
  // BENCH_HUB_OUTPUT=<file>: every line the hub writes, stamped with the bench's clock (e.g. with --hub-node-args=--trace-gc).
  const copy = process.env.BENCH_HUB_OUTPUT ? createWriteStream(process.env.BENCH_HUB_OUTPUT, { flags: 'a' }) : undefined;
  const keep = (line: string): void => {
    copy?.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
    tail.push(line);
    if (tail.length > OUTPUT_LINES) tail.shift();
  };
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', keep);
  const inspector = options.inspect ? inspectorUrl(child.stderr as Readable) : undefined;
  inspector?.catch(() => undefined); // reported by collectGarbage()

  const banner = new Map<string, string>();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within ${options.startTimeoutMs ?? 30_000} ms`)), options.startTimeoutMs ?? 30_000);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`hub exited (code ${code}, signal ${signal}) before printing its banner`));
    });
    // Keep reading stdout for the process's whole life, so the pipe never fills up.
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^\s{2}(REST API|MQTT|Store)\s{2,}(.*)$/.exec(line);
      if (match?.[1] && match[2]) banner.set(match[1], match[2]);
      else if (line.startsWith('Press Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      } else keep(line);
    });
  });
  try {
    await ready;
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${tail.join('\n')}`);
  }

  const api = banner.get('REST API') ?? '';
  const mqtt = /^mqtt:\/\/[^\s]+/.exec(banner.get('MQTT') ?? '')?.[0] ?? '';
  const httpPort = Number(new URL(api).port);
  const mqttPort = Number(new URL(mqtt).port);
  const storeUri = /embedded, (mongodb:\/\/\S+)/.exec(banner.get('Store') ?? '')?.[1];
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  return {
    child,
    pid: child.pid as number,
    httpPort,
    mqttPort,
    http: api.replace(/\/api\/v1$/, ''),
    api,
    mqtt,
    storeUri,
    exited,
    output: () => tail.join('\n'),
    async collectGarbage() {
      if (!inspector) throw new Error('the hub was started without inspect: true');
      await collectGarbage(await inspector);
    },
    async sampleAllocations(ms, survivorsOnly = false) {
      if (!inspector) throw new Error('the hub was started without inspect: true');
      return sampleAllocations(await inspector, ms, { survivorsOnly });
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop(timeoutMs = 10_000) {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc), or NaN. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system) a process has used, in ms (Linux /proc), or NaN. */
export function cpuMillis(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // After "pid (comm) ", utime and stime are fields 12 and 13 (0-based 11, 12), in clock ticks (100/s).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

// ── REST, as a client of the hub ─────────────────────────────────────────────

export async function api<T = Record<string, unknown>>(base: string, method: string, path: string, options: { token?: string; body?: unknown; expect?: number } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  const expected = options.expect ?? (method === 'POST' ? 201 : 200);
  if (response.status !== expected) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function login(apiBase: string, email: string, password: string): Promise<{ token: string; userId: string; organisationId: string }> {
  const body = await api<{ accessToken: string; user: { id: string; organisationId: string } }>(apiBase, 'POST', '/auth/login', { body: { email, password }, expect: 200 });
  return { token: body.accessToken, userId: body.user.id, organisationId: body.user.organisationId };
}
