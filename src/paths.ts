import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds the repository root: the nearest directory above `fromUrl` that holds package.json.
 * Walking up (rather than a fixed `../..`) makes the same code work from `src/` under tsx, from
 * `dist/src/` after `tsc` and from `dist-test/src/` in the test build.
 */
export function findPackageRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No package.json above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

/** The package root (the folder holding package.json). */
export const packageRoot: string = findPackageRoot();

export const schemasDir: string = join(packageRoot, 'schemas');
