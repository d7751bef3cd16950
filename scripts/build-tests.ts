/**
 * Compiles the sources and the tests to JavaScript under dist-test/ (esbuild: transpile only, one
 * file per file, same layout), so `npm test` runs them with plain Node.
 *
 * Why: tap runs each test file in a process of its own. Loaded through tsx, every process paid
 * about 1.7 s more CPU than the same modules compiled (tsx's loader hooks resolve and transform
 * every import, node_modules included): over 120 files on two cores that was minutes of the
 * suite. Types are still checked, by `npm run typecheck`; esbuild only strips them.
 *
 * Child processes the tests spawn (a hub, the store's CLI, crash fixtures) still run their .ts
 * sources through tsx, from the repository: paths in tests are built from `packageRoot`, never
 * from the compiled file's own location.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../src/paths.js';

const OUT_DIR = join(packageRoot, 'dist-test');
const SOURCE_DIRS = ['src', 'test', 'firmware-sim', 'scripts'];

const entryPoints = SOURCE_DIRS.flatMap((dir) =>
  readdirSync(join(packageRoot, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(packageRoot, dir, file)),
);
rmSync(OUT_DIR, { recursive: true, force: true });
const started = performance.now();
await build({
  entryPoints,
  outdir: OUT_DIR,
  outbase: packageRoot,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
});
console.log(`built ${entryPoints.length} files into dist-test/ in ${Math.round(performance.now() - started)} ms`);
