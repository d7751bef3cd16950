/**
 * The embedded store on a worker thread of its own. The store is a server: it decodes every
 * command, runs it, encodes the reply and writes the journal. On the hub's event loop that work
 * competed with MQTT, Socket.IO and HTTP for one core (a quarter of the hub's CPU at 3,000 events/s,
 * docs/benchmarks/ingest.md); on its own thread it runs on the other core, and the hub talks to
 * it over loopback exactly as it talks to a MongoDB server. Same options and same handle as
 * `startEmbeddedStore`; log records come back to the caller's logger.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { guardObserver } from './engine/engine.js';
import type { EmbeddedStore, EmbeddedStoreOptions } from './index.js';
import { silentLogger } from './logger.js';

export type ToStoreWorker = { type: 'close' };
/** One command the store answered: the arguments of `CommandObserver`, in order. */
export type ObservedCommand = [command: string, seconds: number, ok: boolean, collection: string | undefined];
export type FromStoreWorker =
  | { type: 'ready'; uri: string; port: number }
  | { type: 'closed' }
  | { type: 'failed'; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; details: Record<string, unknown>; message: string }
  | { type: 'commands'; observed: ObservedCommand[] };

/** What the thread is started with: the store's options, and whether to report its commands. */
export interface StoreWorkerData extends Omit<EmbeddedStoreOptions, 'onCommand' | 'logger'> {
  reportCommands: boolean;
}

export interface StoreWorkerOptions extends EmbeddedStoreOptions {
  /** Called when the thread ends without being asked to (the store is then unreachable, as a crashed server). */
  onUnexpectedExit?: (error: Error) => void;
  /** The thread, once started: for its event-loop utilization or resource usage, or to stop it the hard way (tests). */
  onThread?: (worker: Worker) => void;
}

// Run as TypeScript under tsx (development, tests) and as JavaScript once built. tsx's loader
// hooks do not reach worker threads on Node 20, so a TypeScript worker registers them itself.
const SOURCE_EXTENSION = extname(fileURLToPath(import.meta.url));
const ENTRY = new URL(`./worker-main${SOURCE_EXTENSION}`, import.meta.url);

function spawnWorker(workerData: StoreWorkerData): Worker {
  if (SOURCE_EXTENSION !== '.ts') return new Worker(ENTRY, { workerData });
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(ENTRY.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export function startEmbeddedStoreInWorker(options: StoreWorkerOptions = {}): Promise<EmbeddedStore> {
  const { logger = silentLogger, onUnexpectedExit, onThread, onCommand, ...storeOptions } = options;
  const worker = spawnWorker({ ...storeOptions, reportCommands: onCommand !== undefined });
  onThread?.(worker);
  const observer = onCommand && guardObserver(onCommand, logger);
  let closing = false;
  let exited = false;
  let closed: Promise<void> | undefined;
  worker.once('exit', () => (exited = true));

  return new Promise<EmbeddedStore>((resolve, reject) => {
    const onStartFailure = (error: Error): void => reject(error);
    worker.once('error', onStartFailure);
    worker.on('message', (message: FromStoreWorker) => {
      if (message.type === 'commands') for (const observed of message.observed) observer?.(...observed);
      else if (message.type === 'log') logger[message.level](message.details, message.message);
      else if (message.type === 'failed' && !closing) reject(new Error(message.message));
      else if (message.type === 'ready') {
        worker.off('error', onStartFailure);
        worker.on('error', (error) => logger.error({ err: String(error) }, 'embedded store thread failed'));
        worker.once('exit', (code) => {
          if (!closing) onUnexpectedExit?.(new Error(`embedded store thread exited with code ${code}`));
        });
        resolve({
          uri: message.uri,
          port: message.port,
          close() {
            closing = true;
            closed ??= new Promise<void>((done, fail) => {
              if (exited) return done();
              worker.on('message', (reply: FromStoreWorker) => {
                if (reply.type === 'closed') done();
                else if (reply.type === 'failed') fail(new Error(reply.message));
              });
              worker.once('exit', () => done());
              worker.postMessage({ type: 'close' } satisfies ToStoreWorker);
            });
            return closed;
          },
        });
      }
    });
    worker.once('exit', (code) => reject(new Error(`embedded store thread exited with code ${code} before it was ready`)));
  });
}
