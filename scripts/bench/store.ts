/**
 * Embedded store benchmark: `npm run bench:store`.
 *
 * The store runs in its own process (the CLI, journal on a temporary data directory), as a
 * mongod would, and is driven over TCP:
 *  0. store capacity — durable single-document insert commands from raw wire connections
 *     (the same OP_MSG the driver sends, with lsid + txnNumber; one outstanding per
 *     connection, so each insert waits for its fsync). The load generator costs almost no
 *     CPU, so this measures the store, not the client.
 *  1. durable inserts/s with the official driver — insertOne from concurrent callers in 1 and in 2 writer processes
 *     (each insert is acknowledged only after its journal record is fsynced; group commit
 *     shares one fsync among all writes that arrived meanwhile). The Node driver spends more
 *     CPU per insertOne than the store, so one writer process cannot saturate the store; the
 *     store's own CPU time per insert is reported too. Then insertMany batches of 100.
 *  2. indexed findOne latency (p50/p99, one at a time) on a 100k-document collection with a
 *     unique index.
 *
 * Options: --raw-only (just the capacity run, e.g. to profile the store: STORE_NODE_ARGS="--cpu-prof")
 *          --concurrency 32 (per writer) --inserts 30000 (per writer) --docs 100000 --lookups 20000
 *          --connections 64 --seconds 5 (raw capacity run)
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Binary, Long, ObjectId, deserialize, serialize } from 'bson';
import { MongoClient } from 'mongodb';
import { cpuMillis } from './lib/hub-process.js';
import { lines, nextLine, startStoreProcess } from './lib/store-process.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32' },
    inserts: { type: 'string', default: '30000' },
    docs: { type: 'string', default: '100000' },
    lookups: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    writer: { type: 'string' },
    tag: { type: 'string', default: 'w' },
    'raw-only': { type: 'boolean', default: false },
  },
});
const concurrency = Number(values.concurrency);
const insertCount = Number(values.inserts);
const docCount = Number(values.docs);
const lookupCount = Number(values.lookups);

const self = fileURLToPath(import.meta.url);

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

const SUCCESS_REPLY = serialize({ n: 1, ok: 1 });

/** A distinct lsid per connection: txnNumbers restart at 1 on each connection. */
function sessionId(connection: number): Buffer {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(process.pid, 0);
  id.writeUInt32BE(connection, 4);
  return id;
}

/**
 * One raw connection: sends `insert` OP_MSGs (fresh ObjectId and txnNumber patched into a
 * prebuilt frame), each after the previous acknowledgement, until `deadline`.
 */
function rawInsertConnection(port: number, connection: number, deadline: number, acknowledged: { count: number; failed: number }): Promise<void> {
  const markerId = new ObjectId('aaaaaaaaaaaaaaaaaaaaaaaa');
  const markerTxn = Long.fromString('1234567890123456789');
  const body = Buffer.from(
    serialize({
      insert: 'raw_insert',
      documents: [{ _id: markerId, ...document(0, 'raw') }],
      ordered: true,
      lsid: { id: new Binary(sessionId(connection), 4) },
      txnNumber: markerTxn,
      $db: 'bench',
    }),
  );
  const frame = Buffer.alloc(21 + body.length);
  frame.writeInt32LE(frame.length, 0);
  frame.writeInt32LE(2013, 12); // OP_MSG, flags 0, section kind 0
  body.copy(frame, 21);
  const idOffset = frame.indexOf(Buffer.from(markerId.id));
  const txnOffset = frame.indexOf(Buffer.from(serialize({ t: markerTxn })).subarray(7, 15));
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    let sequence = 0;
    let buffered = Buffer.alloc(0);
    const send = (): void => {
      sequence += 1;
      frame.writeInt32LE(sequence, 4);
      frame.writeUInt32BE(connection, idOffset);
      frame.writeBigUInt64BE(BigInt(sequence), idOffset + 4);
      frame.writeBigInt64LE(BigInt(sequence), txnOffset);
      socket.write(frame);
    };
    socket.on('connect', send);
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= buffered.readInt32LE(0)) {
        const length = buffered.readInt32LE(0);
        // Only successful inserts count: {n: 1, ok: 1}. Compared as bytes, so that the load
        // generator, which shares the machine's two cores with the store, costs little.
        if (buffered.subarray(21, length).equals(SUCCESS_REPLY)) acknowledged.count += 1;
        else {
          const reply = deserialize(buffered.subarray(21, length));
          if (reply.ok === 1 && reply.n === 1 && reply.writeErrors === undefined) acknowledged.count += 1;
          else acknowledged.failed += 1;
        }
        buffered = buffered.subarray(length);
        if (performance.now() < deadline) send();
        else {
          socket.end();
          resolve();
        }
      }
    });
  });
}

async function rawDurableInserts(uri: string, storePid: number | undefined): Promise<{ rate: number; storeMicros: number; clientMicros: number }> {
  const port = Number(new URL(uri.replace('mongodb://', 'http://')).port);
  const connections = Number(values.connections);
  // Warm-up, then the measured run.
  await Promise.all(Array.from({ length: connections }, (_, k) => rawInsertConnection(port, 1_000_000 + k, performance.now() + 1000, { count: 0, failed: 0 })));
  const acknowledged = { count: 0, failed: 0 };
  const cpuBefore = cpuMillis(storePid);
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, (_, k) => rawInsertConnection(port, k, started + Number(values.seconds) * 1000, acknowledged)),
  );
  const elapsed = performance.now() - started;
  const own = process.cpuUsage(ownBefore);
  if (acknowledged.failed > 0) throw new Error(`${acknowledged.failed} raw inserts failed`);
  return {
    rate: acknowledged.count / (elapsed / 1000),
    storeMicros: ((cpuMillis(storePid) - cpuBefore) * 1000) / acknowledged.count,
    clientMicros: (own.user + own.system) / acknowledged.count,
  };
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
    console.log('store in its own process, journal on, fdatasync group commit, TCP\n');
    const raw = await rawDurableInserts(store.uri, store.pid);
    console.log(`store capacity: durable insert commands, ${values.connections} raw connections: ${format(raw.rate)} inserts/s  (store CPU ${raw.storeMicros.toFixed(1)} µs/insert, load generator ${raw.clientMicros.toFixed(1)} µs/insert)`);
    if (values['raw-only']) return;
    const one = await durableInsertOne(store.uri, store.pid, 1);
    console.log(`driver insertOne, 1 writer process x ${concurrency} callers:  ${format(one.rate)} inserts/s  (store CPU ${one.storeMicros.toFixed(1)} µs/insert)`);
    const two = await durableInsertOne(store.uri, store.pid, 2);
    console.log(`driver insertOne, 2 writer processes x ${concurrency} callers: ${format(two.rate)} inserts/s  (store CPU ${two.storeMicros.toFixed(1)} µs/insert)`);
    const many = await durableInsertMany(client);
    console.log(`driver insertMany, 100 docs/batch, 8 callers: ${format(many)} docs/s`);
    const lookup = await indexedFindOne(client);
    console.log(
      `indexed findOne on ${format(docCount)} docs, ${format(lookupCount)} sequential lookups: p50 ${lookup.p50.toFixed(3)} ms, p99 ${lookup.p99.toFixed(3)} ms, max ${lookup.max.toFixed(2)} ms`,
    );
    const best = Math.max(one.rate, two.rate);
    console.log(`\ntarget >= 20,000 durable inserts/s: store ${raw.rate >= 20_000 ? 'met' : 'NOT met'} (${format(raw.rate)}/s); through the Node driver's insertOne ${best >= 20_000 ? 'met' : 'NOT met'} (${format(best)}/s)`);
    console.log(`target indexed findOne p99 < 1 ms: ${lookup.p99 < 1 ? 'met' : 'NOT met'} (${lookup.p99.toFixed(3)} ms)`);
  } finally {
    await client.close();
    await store.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (values.writer !== undefined) await runWriter(values.writer, values.tag);
else await main();
