/**
 * Worker-thread entry of the embedded store (see worker.ts): starts the store with the options
 * it was given, reports its address, forwards its log records to the parent's logger, and
 * closes it (journal flushed into a snapshot) when the parent asks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startEmbeddedStore, type CommandObserver } from './index.js';
import type { StoreLogger } from './logger.js';
import type { FromStoreWorker, ObservedCommand, StoreWorkerData, ToStoreWorker } from './worker.js';

const parent = parentPort;
if (!parent) throw new Error('worker-main.ts runs only as a worker thread');

const send = (message: FromStoreWorker): void => parent.postMessage(message);

function forward(level: 'info' | 'warn' | 'error'): StoreLogger['info'] {
  return (details, message) => {
    try {
      send({ type: 'log', level, details, message });
    } catch {
      // A detail that cannot be cloned (a function, a socket) is sent as text.
      send({ type: 'log', level, details: JSON.parse(JSON.stringify(details, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value))) as Record<string, unknown>, message });
    }
  };
}

const logger: StoreLogger = { info: forward('info'), warn: forward('warn'), error: forward('error') };

/**
 * Commands observed here go to the parent in batches: one message per command would cost the
 * two threads more than the command itself. A batch leaves when it is full or 50 ms after its
 * first command, and before the thread reports itself closed.
 */
function commandReporter(): { onCommand: CommandObserver; flush(): void } {
  let observed: ObservedCommand[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (observed.length === 0) return;
    send({ type: 'commands', observed });
    observed = [];
  };
  return {
    onCommand(command, seconds, ok, collection) {
      observed.push([command, seconds, ok, collection]);
      if (observed.length >= 512) flush();
      else timer ??= setTimeout(flush, 50);
    },
    flush,
  };
}

try {
  const { reportCommands, ...options } = workerData as StoreWorkerData;
  const reporter = reportCommands ? commandReporter() : undefined;
  const store = await startEmbeddedStore({ ...options, logger, ...(reporter ? { onCommand: reporter.onCommand } : {}) });
  parent.on('message', (message: ToStoreWorker) => {
    if (message.type !== 'close') return;
    void store.close().then(
      () => {
        reporter?.flush();
        send({ type: 'closed' });
        parent.close();
      },
      (error: unknown) => send({ type: 'failed', message: String(error) }),
    );
  });
  send({ type: 'ready', uri: store.uri, port: store.port });
} catch (error) {
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  parent.close();
}
