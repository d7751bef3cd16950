/**
 * Serves the embedded store on a port for any MongoDB client (mongosh, Compass, services):
 *
 *   npm run store -- --port 27017 --data-dir ./data/store
 *   npm run store -- --in-memory
 *
 * Prints the connection string; SIGINT/SIGTERM flush the journal and exit cleanly.
 */
import { parseArgs } from 'node:util';
import { startEmbeddedStore } from './index.js';
import type { StoreLogger } from './logger.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '27017' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string', default: './data/store' },
    'in-memory': { type: 'boolean', default: false },
    'repl-set': { type: 'string', default: 'medhub' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run store -- [--port 27017] [--host 127.0.0.1] [--data-dir ./data/store | --in-memory] [--repl-set medhub] [--quiet]');
  process.exit(0);
}

const print = (level: string) => (details: Record<string, unknown>, message: string): void => {
  if (!values.quiet || level !== 'info') console.error(`[store] ${level} ${message} ${JSON.stringify(details)}`);
};
const logger: StoreLogger = { info: print('info'), warn: print('warn'), error: print('error') };

const store = await startEmbeddedStore({
  port: Number(values.port),
  host: values.host,
  dataDir: values['data-dir'],
  inMemory: values['in-memory'],
  replSetName: values['repl-set'],
  logger,
}).catch((error: unknown) => {
  // What a person can fix is one line, not a stack trace: most often a hub already serving this data directory.
  const message = error instanceof Error ? error.message : String(error);
  const hint = /is locked by/.test(message) ? ' Stop the hub (or the other store) using it, or pass another --data-dir.' : '';
  console.error(`Cannot start the store: ${message}.${hint}`);
  process.exit(1);
});
console.log(store.uri);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  store.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
