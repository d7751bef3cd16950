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
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { packageRoot } from '../src/paths.js';

const OUT_DIR = join(packageRoot, 'dist-test');
const SOURCE_DIRS = ['src', 'test', 'firmware-sim', 'scripts'];

const entryPoints = SOURCE_DIRS.flatMap((dir) =>
  readdirSync(join(packageRoot, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => join(packageRoot, dir, file)),
);
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
// Files are overwritten in place (a run going on in this checkout keeps its modules); what no source
// makes any more (a test deleted or renamed) goes, or tap would still run it.
const wanted = new Set(entryPoints.flatMap((file) => [`${relative(packageRoot, file).replace(/\.ts$/, '.js')}`, `${relative(packageRoot, file).replace(/\.ts$/, '.js.map')}`]));
let pruned = 0;
for (const file of readdirSync(OUT_DIR, { recursive: true, encoding: 'utf8' })) {
  const path = join(OUT_DIR, file);
  if (statSync(path).isFile() && !wanted.has(file)) {
    rmSync(path);
    pruned += 1;
  }
}
console.log(`built ${entryPoints.length} files into dist-test/ in ${Math.round(performance.now() - started)} ms${pruned ? `; removed ${pruned} left by deleted sources` : ''}`);
