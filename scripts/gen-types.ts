/**
 * Generates TypeScript types from schemas/ (the single source of truth) into
 * src/generated/, one module per schema. `--check` regenerates in memory and
 * fails when a checked-in file differs, so CI catches stale types.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { packageRoot } from '../src/paths.js';

const schemasDir = join(packageRoot, 'schemas');
const outDir = join(packageRoot, 'src/generated');
const check = process.argv.includes('--check');

function* schemaFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* schemaFiles(path);
    else if (name.endsWith('.json')) yield path;
  }
}

async function generate(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const file of schemaFiles(schemasDir)) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as JSONSchema;
    if (typeof schema.$id !== 'string') continue; // index files describe schemas; they are not schemas
    const rel = relative(schemasDir, file).replace(/\.json$/, '.ts');
    const name = String(schema.title ?? rel);
    const source = await compile(schema, name, {
      cwd: dirname(file),
      bannerComment: `/* Generated from schemas/${relative(schemasDir, file)} by scripts/gen-types.ts. Do not edit. */`,
      additionalProperties: false,
      strictIndexSignatures: true,
      // Bounded arrays as plain arrays: a union of every tuple length says nothing the schema's check does not.
      maxItems: -1,
      format: true,
      style: { singleQuote: true, printWidth: 120 },
      $refOptions: { resolve: { http: false } } as never,
    });
    files.set(join(outDir, rel), source);
  }
  return files;
}

const generated = await generate();
if (check) {
  const stale = [...generated].filter(([path, source]) => !existsSync(path) || readFileSync(path, 'utf8') !== source);
  if (stale.length) {
    console.error(`Generated types are stale; run npm run gen:types:\n${stale.map(([p]) => `  ${relative(packageRoot, p)}`).join('\n')}`);
    process.exit(1);
  }
  console.log(`generated types are current (${generated.size} schemas)`);
} else {
  rmSync(outDir, { recursive: true, force: true });
  for (const [path, source] of generated) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, source);
  }
  console.log(`wrote ${generated.size} type modules to ${relative(packageRoot, outDir)}`);
}
