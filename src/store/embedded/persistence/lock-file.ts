/**
 * `mongod.lock` in the data directory holds the owner's pid and is created exclusively, so
 * two processes never open the same directory. A lock left by a dead process is taken over.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE_NAME = 'mongod.lock';

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DataDirectoryLock {
  private constructor(
    private readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async acquire(dataDir: string): Promise<DataDirectoryLock> {
    const path = join(dataDir, LOCK_FILE_NAME);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(path, 'wx');
        await handle.writeFile(`${process.pid}\n`);
        await handle.datasync();
        return new DataDirectoryLock(path, handle);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(owner) && owner > 0 && processIsAlive(owner)) {
        throw new Error(`data directory ${dataDir} is locked by running process ${owner} (${path})`);
      }
      // Stale lock from a process that died without releasing it.
      await unlink(path).catch(() => undefined);
    }
    throw new Error(`could not acquire ${path}`);
  }

  async release(): Promise<void> {
    await this.handle.close();
    await unlink(this.path).catch(() => undefined);
  }
}
