/**
 * Embedded store benchmark: `npm run bench:store`.
 *
 * The store runs in its own process (the CLI, journal on a temporary data directory), as a
 * mongod would, and is driven with the official driver over TCP:
 *  1. durable inserts/s — insertOne from concurrent callers in 1 and in 2 writer processes
 *     (each insert is acknowledged only after its journal record is fsynced; group commit
 *     shares one fsync among all writes that arrived meanwhile). The Node driver spends more
 *     CPU per insertOne than the store, so one writer process cannot saturate the store; the
 *     store's own CPU time per insert is reported too. Then insertMany batches of 100.
 *  2. indexed findOne latency (p50/p99, one at a time) on a 100k-document collection with a
 *     unique index.
 *
 * Options: --concurrency 32 (per writer) --inserts 30000 (per writer) --docs 100000 --lookups 20000
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32' },
    inserts: { type: 'string', default: '30000' },
    docs: { type: 'string', default: '100000' },
    lookups: { type: 'string', default: '20000' },
    writer: { type: 'string' },
    tag: { type: 'string', default: 'w' },
  },
});
const concurrency = Number(values.concurrency);
const insertCount = Number(values.inserts);
const docCount = Number(values.docs);
const lookupCount = Number(values.lookups);

const self = fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../../src/store/embedded/cli.ts', import.meta.url));

function document(i: number, tag: string): Record<string, unknown> {
  return { email: `${tag}-user${i}@example.org`, name: `User ${i}`, org: `org${i % 50}`, createdAt: new Date(), tags: ['a', 'b'] };
}

/** Writer role: warm up, wait for "go" on stdin, insertOne `insertCount` docs, report ms. */
async function runWriter(uri: string, tag: string): Promise<void> {
  const client = await MongoClient.connect(uri, { maxPoolSize: concurrency });
  const coll = client.db('bench').collection(`insert_one_${tag}`);
  let warm = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (warm < 3000) await coll.insertOne({ warm: warm++ });
  }));
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy();
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < insertCount) await coll.insertOne(document(next++, tag));
  }));
  process.stdout.write(`${performance.now() - started}\n`);
  await client.close();
}

function lines(child: ChildProcess): Interface {
  if (child.stdout === null) throw new Error('child without stdout');
  return createInterface({ input: child.stdout });
}

function nextLine(reader: Interface): Promise<string> {
  return new Promise((resolve) => reader.once('line', resolve));
}

/** CPU milliseconds used so far by a process (Linux /proc; NaN elsewhere). */
function cpuMillis(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

async function startStoreProcess(dataDir: string): Promise<{ uri: string; pid: number | undefined; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--quiet', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const uri = await nextLine(lines(child));
  return {
    uri,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function durableInsertOne(uri: string, storePid: number | undefined, writers: number): Promise<{ rate: number; storeMicros: number }> {
  const children = Array.from({ length: writers }, (_, k) =>
    spawn(process.execPath, ['--import', 'tsx', self, '--writer', uri, '--tag', `w${writers}-${k}`, '--inserts', String(insertCount), '--concurrency', String(concurrency)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const readers = children.map(lines);
  await Promise.all(readers.map(nextLine));
  const cpuBefore = cpuMillis(storePid);
  const started = performance.now();
  const done = readers.map(nextLine);
  const exited = children.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
  for (const child of children) child.stdin?.end('go\n');
  await Promise.all(done);
  const elapsed = performance.now() - started;
  const total = writers * insertCount;
  await Promise.all(exited);
  return { rate: total / (elapsed / 1000), storeMicros: ((cpuMillis(storePid) - cpuBefore) * 1000) / total };
}

async function durableInsertMany(client: MongoClient): Promise<number> {
  const coll = client.db('bench').collection('insert_many');
  const batch = 100;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < insertCount) {
      const from = next;
      next += batch;
      await coll.insertMany(Array.from({ length: batch }, (_, j) => document(from + j, 'many')));
    }
  }));
  return next / ((performance.now() - started) / 1000);
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

async function indexedFindOne(client: MongoClient): Promise<{ p50: number; p99: number; max: number }> {
  const coll = client.db('bench').collection('lookup');
  await coll.createIndex({ email: 1 }, { unique: true });
  for (let from = 0; from < docCount; from += 1000) {
    await coll.insertMany(Array.from({ length: Math.min(1000, docCount - from) }, (_, j) => document(from + j, 'lookup')));
  }
  const probe = (): string => `lookup-user${Math.floor(Math.random() * docCount)}@example.org`;
  for (let i = 0; i < 3000; i++) await coll.findOne({ email: probe() });
  const latencies: number[] = [];
  for (let i = 0; i < lookupCount; i++) {
    const started = performance.now();
    const doc = await coll.findOne({ email: probe() });
    latencies.push(performance.now() - started);
    if (doc === null) throw new Error('lookup missed');
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? Number.NaN };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'medhub-bench-store-'));
  const store = await startStoreProcess(dataDir);
  const client = await MongoClient.connect(store.uri, { maxPoolSize: 16 });
  const format = (n: number): string => Math.round(n).toLocaleString('en-US');
  try {
    console.log(`embedded store benchmark — ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
    console.log('store in its own process, journal on, fdatasync group commit, official driver over TCP\n');
    const one = await durableInsertOne(store.uri, store.pid, 1);
    console.log(`durable insertOne, 1 writer process x ${concurrency} callers:  ${format(one.rate)} inserts/s  (store CPU ${one.storeMicros.toFixed(1)} µs/insert)`);
    const two = await durableInsertOne(store.uri, store.pid, 2);
    console.log(`durable insertOne, 2 writer processes x ${concurrency} callers: ${format(two.rate)} inserts/s  (store CPU ${two.storeMicros.toFixed(1)} µs/insert)`);
    const many = await durableInsertMany(client);
    console.log(`durable insertMany, 100 docs/batch, 8 callers:         ${format(many)} docs/s`);
    const lookup = await indexedFindOne(client);
    console.log(
      `indexed findOne on ${format(docCount)} docs, ${format(lookupCount)} sequential lookups: p50 ${lookup.p50.toFixed(3)} ms, p99 ${lookup.p99.toFixed(3)} ms, max ${lookup.max.toFixed(2)} ms`,
    );
    const best = Math.max(one.rate, two.rate);
    console.log(`\ntargets: >= 20,000 durable inserts/s: ${best >= 20_000 ? 'met' : 'NOT met'} (best insertOne ${format(best)}/s); findOne p99 < 1 ms: ${lookup.p99 < 1 ? 'met' : 'NOT met'}`);
  } finally {
    await client.close();
    await store.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (values.writer !== undefined) await runWriter(values.writer, values.tag);
else await main();
