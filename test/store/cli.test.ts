/**
 * `npm run store` (src/store/embedded/cli.ts): prints the connection string, serves clients,
 * and exits cleanly on SIGINT/SIGTERM, flushing the journal and releasing the lock.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { MongoClient } from 'mongodb';
import { packageRoot } from '../../src/paths.js';
import { embeddedOnly, temporaryDirectory } from './helpers.js';

const cli = join(packageRoot, 'src/store/embedded/cli.ts');

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

/** Runs the CLI to its end (it should not start): exit code and what it printed on stderr. */
async function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, '--port', '0', '--quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, stderr };
}

// Skipped with MONGO_URL: these start the embedded store's CLI.
t.test('serves a data directory and exits cleanly on SIGINT', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'cli');
  const first = await startCli(['--data-dir', dataDir]);
  t.match(first.uri, /^mongodb:\/\/127\.0\.0\.1:\d+\/\?replicaSet=medhub$/);
  const client = await MongoClient.connect(first.uri);
  await client.db('app').collection('notes').insertOne({ text: 'kept' });
  await client.close();
  // A second store on a directory in use: one line saying so, exit 1, no stack trace.
  const refused = await runCli(['--data-dir', dataDir]);
  t.equal(refused.code, 1, 'a second store on the same directory exits 1');
  t.match(refused.stderr.trim(), /^Cannot start the store: data directory .* is locked by running process \d+ .*Stop the hub/, 'and says why in one line');
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace');
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
