/**
 * `npm run admin` (scripts/admin.ts) as an operator runs it: its usage on --help, a clear refusal of
 * what it does not take, and the first administrator created in the store under DATA_DIR.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../src/paths.js';

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function admin(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(packageRoot, 'scripts/admin.ts'), ...args], { cwd: packageRoot, env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('--help prints the usage and succeeds; an unknown option is refused with it', async (t) => {
  const help = await admin(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: npm run admin -- create --email EMAIL/);
  const unknown = await admin(['--bogus']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /Unknown option '--bogus'/);
  t.match(unknown.stderr, /usage: npm run admin/);
  t.notMatch(unknown.stderr, /at .*\.ts:\d+/, 'no stack trace');
});

t.test('create makes the first administrator, once', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-admin-cli-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, MONGO_URL: '', PASSWORD_HASH_MEMORY_KIB: '1024', PASSWORD_HASH_TIME_COST: '1' };
  const args = ['create', '--email', 'first@example.org', '--password', 'a long enough passphrase'];
  const created = await admin(args, env);
  t.equal(created.code, 0, created.stderr);
  t.match(created.stdout, /Created administrator first@example\.org/);
  const again = await admin(args, env);
  t.equal(again.code, 1);
  t.match(again.stderr, /already exists/);
});
