/**
 * A new journal file's directory entry is made durable (the directory fsynced) before anything
 * written to that file is acknowledged: fdatasync of the file alone does not persist its name,
 * and after a power cut a journal that was never linked into the directory is lost whole.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { silentLogger } from '../../src/store/embedded/logger.js';
import { Persistence } from '../../src/store/embedded/persistence/persistence.js';
import { embeddedOnly, temporaryDirectory } from './helpers.js';

/** Records, at each completed directory fsync, the journal files the directory then held. */
async function watchDirectorySyncs(t: { teardown(fn: () => unknown): void }, probeDir: string): Promise<string[][]> {
  const seen: string[][] = [];
  const probe = await open(probeDir, 'r');
  const prototype = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const original = prototype.sync;
  prototype.sync = async function (this: { stat(): Promise<{ isDirectory(): boolean }> }) {
    const isDirectory = (await this.stat()).isDirectory();
    await original.call(this);
    if (isDirectory) seen.push(readdirSync(probeDir).filter((name) => name.startsWith('journal-')));
  };
  t.teardown(() => {
    prototype.sync = original;
  });
  return seen;
}

const insert = (n: number) => [{ op: 'insert' as const, ns: 'app.items', doc: { _id: n } }];

// Skipped with MONGO_URL: this is about the embedded store's own files, not MongoDB semantics.
t.test('a journal file is linked durably before any write in it is acknowledged', { skip: embeddedOnly }, async (t) => {
  const dataDir = await temporaryDirectory(t, 'journal-dir-sync');
  const syncs = await watchDirectorySyncs(t, dataDir);
  const persistence = await Persistence.open({ dataDir, logger: silentLogger, compactAfterBytes: 1 }, () => undefined);
  t.teardown(() => persistence.close(() => []));
  t.ok(syncs.some((names) => names.includes('journal-00000001.log')), 'opening a new journal syncs the directory');

  await persistence.append(insert(1));
  const compaction = persistence.compact(() => insert(1));
  // The first write to the new generation, right after the switch.
  await persistence.append(insert(2));
  t.ok(syncs.some((names) => names.includes('journal-00000002.log')), 'the new generation was linked durably before its first acknowledgement');
  await compaction;
});
