/**
 * The embedded store in a process of its own (the `npm run store` CLI), for benchmarks that
 * measure it alone (bench:store) or that give it its own core (bench:ingest --store-process).
 */
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { packageRoot } from '../../../src/paths.js';

const cli = join(packageRoot, 'src/store/embedded/cli.ts');

export interface StoreProcess {
  uri: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export function lines(child: ChildProcess): Interface {
  if (child.stdout === null) throw new Error('child without stdout');
  return createInterface({ input: child.stdout });
}

export function nextLine(reader: Interface): Promise<string> {
  return new Promise((resolve) => reader.once('line', resolve));
}

/** Starts the store on a free port, journaling under `dataDir`; resolves with its connection string. */
export async function startStoreProcess(dataDir: string): Promise<StoreProcess> {
  const child = spawn(process.execPath, [...(process.env.STORE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', cli, '--port', '0', '--quiet', '--data-dir', dataDir], {
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
