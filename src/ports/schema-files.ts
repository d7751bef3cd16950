import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from '../paths.js';

export { findPackageRoot };

/** The repository's `schemas/` folder. */
export function schemasDir(fromUrl: string = import.meta.url): string {
  return join(findPackageRoot(fromUrl), 'schemas');
}

/** Reads and parses one JSON file under `schemas/`, e.g. `readSchemaFile('intents/index.json')`. */
export function readSchemaFile(relativePath: string, dir: string = schemasDir()): unknown {
  return JSON.parse(readFileSync(join(dir, relativePath), 'utf8')) as unknown;
}
