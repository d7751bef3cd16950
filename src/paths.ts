import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (the folder holding package.json), found by walking up from
 * this file so that it is right both under tsx (src/) and after tsc (dist/src/).
 */
export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

export const schemasDir: string = join(packageRoot, 'schemas');

function findPackageRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}
