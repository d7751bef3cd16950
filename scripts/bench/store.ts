/**
 * Embedded store benchmark: `npm run bench:store`.
 *
 * The store runs in its own process (the CLI, journal on a temporary data directory), as a
 * mongod would, and this process drives it with the official driver over TCP:
 *  1. durable inserts/s — insertOne from many concurrent callers (each acknowledged only
 *     after its journal record is fsynced; group commit shares one fsync among them), and
 *     insertMany batches of 100;
 *  2. indexed findOne latency (p50/p99, one at a time) on a 100k-document collection with a
 *     unique index.
 *
 * Options: --concurrency 64 --inserts 40000 --docs 100000 --lookups 20000
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    inserts: { type: 'string', default: '40000' },
    docs: { type: 'string', default: '100000' },
    lookups: { type: 'string', default: '20000' },
  },
});
const concurrency = Number(values.concurrency);
const insertCount = Number(values.inserts);
const docCount = Number(values.docs);
const lookupCount = Number(values.lookups);

const cli = fileURLToPath(new URL('../../src/store/embedded/cli.ts', import.meta.url));

async function startStoreProcess(dataDir: string): Promise<{ uri: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--quiet', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const uri = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`store exited with ${String(code)}`)));
  });
  return {
    uri,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? Number.NaN;
}

function document(i: number): { email: string; name: string; org: string; createdAt: Date; tags: string[] } {
  return { email: `user${i}@example.org`, name: `User ${i}`, org: `org${i % 50}`, createdAt: new Date(), tags: ['a', 'b'] };
}

async function durableInsertOne(client: MongoClient): Promise<number> {
  const coll = client.db('bench').collection('insert_one');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < insertCount) {
        const i = next++;
        await coll.insertOne(document(i));
      }
    }),
  );
  return insertCount / ((performance.now() - started) / 1000);
}

async function durableInsertMany(client: MongoClient): Promise<number> {
  const coll = client.db('bench').collection('insert_many');
  const batch = 100;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < insertCount) {
        const from = next;
        next += batch;
        await coll.insertMany(Array.from({ length: batch }, (_, j) => document(from + j)));
      }
    }),
  );
  return next / ((performance.now() - started) / 1000);
}

async function indexedFindOne(client: MongoClient): Promise<{ p50: number; p99: number; max: number }> {
  const coll = client.db('bench').collection('lookup');
  await coll.createIndex({ email: 1 }, { unique: true });
  for (let from = 0; from < docCount; from += 1000) {
    await coll.insertMany(Array.from({ length: Math.min(1000, docCount - from) }, (_, j) => document(from + j)));
  }
  const probe = (): number => Math.floor(Math.random() * docCount);
  for (let i = 0; i < 2000; i++) await coll.findOne({ email: `user${probe()}@example.org` });
  const latencies: number[] = [];
  for (let i = 0; i < lookupCount; i++) {
    const started = performance.now();
    const doc = await coll.findOne({ email: `user${probe()}@example.org` });
    latencies.push(performance.now() - started);
    if (doc === null) throw new Error('lookup missed');
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? Number.NaN };
}

const dataDir = await mkdtemp(join(tmpdir(), 'medhub-bench-store-'));
const store = await startStoreProcess(dataDir);
const client = await MongoClient.connect(store.uri, { maxPoolSize: concurrency });
try {
  console.log(`embedded store benchmark — ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  console.log(`store in its own process, journal on (${dataDir}), driver over TCP\n`);
  const insertOneRate = await durableInsertOne(client);
  console.log(`durable insertOne, ${concurrency} concurrent callers: ${Math.round(insertOneRate).toLocaleString('en-US')} inserts/s (${insertCount} docs)`);
  const insertManyRate = await durableInsertMany(client);
  console.log(`durable insertMany (100/batch, 8 concurrent):   ${Math.round(insertManyRate).toLocaleString('en-US')} docs/s`);
  const lookup = await indexedFindOne(client);
  console.log(
    `indexed findOne on ${docCount.toLocaleString('en-US')} docs (${lookupCount} sequential lookups): p50 ${lookup.p50.toFixed(3)} ms, p99 ${lookup.p99.toFixed(3)} ms, max ${lookup.max.toFixed(2)} ms`,
  );
  const pass = insertOneRate >= 20_000 && lookup.p99 < 1;
  console.log(`\ntargets (>= 20,000 durable inserts/s, findOne p99 < 1 ms): ${pass ? 'met' : 'NOT met'}`);
} finally {
  await client.close();
  await store.stop();
  await rm(dataDir, { recursive: true, force: true });
}
