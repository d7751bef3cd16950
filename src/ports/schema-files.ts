import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Finds the repository root: the nearest directory above `fromUrl` that holds package.json.
 * Walking up (rather than a fixed `../..`) makes the same code work from `src/ports/` under tsx and from
 * `dist/src/ports/` after `tsc`.
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

/** The repository's `schemas/` folder. */
export function schemasDir(fromUrl: string = import.meta.url): string {
  return join(findPackageRoot(fromUrl), 'schemas');
}

/** Reads and parses one JSON file under `schemas/`, e.g. `readSchemaFile('intents/index.json')`. */
export function readSchemaFile(relativePath: string, dir: string = schemasDir()): unknown {
  return JSON.parse(readFileSync(join(dir, relativePath), 'utf8')) as unknown;
}
