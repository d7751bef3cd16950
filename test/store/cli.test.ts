/**
 * `npm run store` (src/store/embedded/cli.ts): prints the connection string, serves clients,
 * and exits cleanly on SIGINT/SIGTERM, flushing the journal and releasing the lock.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { embeddedOnly, temporaryDirectory } from './helpers.js';

const cli = fileURLToPath(new URL('../../src/store/embedded/cli.ts', import.meta.url));

async function startCli(args: string[]): Promise<{ uri: string; stop: (signal: NodeJS.Signals) => Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  const [uri] = await Promise.race([
    new Promise<[string]>((resolve) => lines.once('line', (line) => resolve([line]))),
    exited.then((code) => {
      throw new Error(`cli exited early with ${String(code)}`);
    }),
  ]);
  return {
    uri,
    stop: async (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}

// Skipped with MONGO_URL: these start the embedded store's CLI.
t.test('serves a data directory and exits cleanly on SIGINT', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'cli');
  const first = await startCli(['--data-dir', dataDir]);
  t.match(first.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=medhub$/);
  const client = await MongoClient.connect(first.uri);
  await client.db('app').collection('notes').insertOne({ text: 'kept' });
  await client.close();
  t.equal(await first.stop('SIGINT'), 0, 'exit code 0');
  const files = await readdir(dataDir);
  t.notOk(files.includes('mongod.lock'), 'the lock is released');
  t.ok(files.includes('snapshot.bson'), 'the journal was compacted on the way out');

  const second = await startCli(['--data-dir', dataDir, '--repl-set', 'rs1']);
  t.match(second.uri, /replicaSet=rs1$/);
  const again = await MongoClient.connect(second.uri);
  t.equal((await again.db('app').collection('notes').findOne({}))?.text, 'kept');
  await again.close();
  t.equal(await second.stop('SIGTERM'), 0);
});

t.test('--in-memory', { skip: embeddedOnly }, async (t) => {
  const server = await startCli(['--in-memory']);
  const client = await MongoClient.connect(server.uri);
  t.equal((await client.db('admin').command({ ping: 1 })).ok, 1);
  await client.close();
  t.equal(await server.stop('SIGTERM'), 0);
});
