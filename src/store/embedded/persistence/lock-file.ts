/**
 * Two processes never open the same data directory.
 *
 * On Linux the lock itself is an abstract-namespace unix socket whose name derives from the
 * data directory's real path. Binding it is atomic (of two takers exactly one wins) and the
 * kernel frees the name when its process dies, kill -9 included, so a lock left by a crash
 * never blocks a restart — even when the restarted process gets the dead one's pid again, as
 * pid 1 of a container does after every restart.
 *
 * `mongod.lock` in the data directory records the owner: pid, process start time
 * (/proc/<pid>/stat field 22) and boot id. It names the owner in the error, and it is the only
 * lock where no socket can be shared: on other platforms, and between processes in different
 * network namespaces (two containers mounting one volume). A record counts as held only while
 * that very process lives: same boot, same pid, same start time, and not this process (a record
 * with our own pid that we do not hold is a previous incarnation's). There, and on platforms
 * other than Linux, taking over a stale record is check-then-write: not atomic.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, realpath, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';

export const LOCK_FILE_NAME = 'mongod.lock';

interface OwnerRecord {
  pid: number;
  /** Clock ticks after boot at which the process started; undefined in the older pid-only format. */
  startTime?: string;
  bootId?: string;
}

function readProcFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function currentBootId(): string | undefined {
  return readProcFile('/proc/sys/kernel/random/boot_id')?.trim();
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
function processStartTime(pid: number): string | undefined {
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): OwnerRecord | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const record = JSON.parse(trimmed) as Partial<OwnerRecord>;
    if (!Number.isInteger(record.pid) || (record.pid as number) <= 0) return undefined;
    return {
      pid: record.pid as number,
      ...(typeof record.startTime === 'string' ? { startTime: record.startTime } : {}),
      ...(typeof record.bootId === 'string' ? { bootId: record.bootId } : {}),
    };
  } catch {
    return undefined;
  }
}

async function readOwner(path: string): Promise<OwnerRecord | undefined> {
  return parseOwner(await readFile(path, 'utf8').catch(() => ''));
}

/**
 * Whether the process the record names is still the one that wrote it. `socketHeld`: we hold
 * the kernel lock, so a record in the old pid-only format (whose live pid may be anyone) is stale.
 */
function heldByLiveProcess(owner: OwnerRecord, socketHeld: boolean): boolean {
  if (owner.pid === process.pid) return false;
  if (!processIsAlive(owner.pid)) return false;
  if (owner.startTime === undefined) return !socketHeld;
  const bootId = currentBootId();
  if (owner.bootId !== undefined && bootId !== undefined && owner.bootId !== bootId) return false;
  const startTime = processStartTime(owner.pid);
  return startTime === undefined || startTime === owner.startTime;
}

function lockedError(dataDir: string, path: string, owner: OwnerRecord | undefined): Error {
  const by = owner === undefined ? 'another running process' : `running process ${owner.pid}`;
  return new Error(`data directory ${dataDir} is locked by ${by} (${path})`);
}

/** Binds the abstract socket; undefined when another live process holds it. */
async function bindKernelLock(name: string): Promise<Server | undefined> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    server.listen({ path: name }, () => {
      // Holding the lock must not keep the process alive.
      server.unref();
      resolve(server);
    });
  });
}

async function kernelLockFor(dataDir: string): Promise<Server | 'held' | undefined> {
  if (process.platform !== 'linux') return undefined;
  const digest = createHash('sha256').update(await realpath(dataDir)).digest('hex').slice(0, 40);
  return (await bindKernelLock(`\0medhub-store-lock:${digest}`)) ?? 'held';
}

async function writeOwner(path: string): Promise<void> {
  const record: OwnerRecord = { pid: process.pid };
  const startTime = processStartTime(process.pid);
  const bootId = currentBootId();
  if (startTime !== undefined) record.startTime = startTime;
  if (bootId !== undefined) record.bootId = bootId;
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(`${JSON.stringify(record)}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export class DataDirectoryLock {
  private constructor(
    private readonly path: string,
    private readonly kernelLock: Server | undefined,
  ) {}

  static async acquire(dataDir: string): Promise<DataDirectoryLock> {
    const path = join(dataDir, LOCK_FILE_NAME);
    const kernelLock = await kernelLockFor(dataDir);
    if (kernelLock === 'held') throw lockedError(dataDir, path, await readOwner(path));
    try {
      const owner = await readOwner(path);
      if (owner !== undefined && heldByLiveProcess(owner, kernelLock !== undefined)) throw lockedError(dataDir, path, owner);
      // Anything else there is stale: left by a process that died without releasing it.
      await writeOwner(path);
      return new DataDirectoryLock(path, kernelLock);
    } catch (error) {
      kernelLock?.close();
      throw error;
    }
  }

  async release(): Promise<void> {
    // The record goes first: a taker that wins the socket must not find our record still there.
    await unlink(this.path).catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.kernelLock === undefined) resolve();
      else this.kernelLock.close(() => resolve());
    });
  }
}
