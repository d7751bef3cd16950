/**
 * A full garbage collection in another Node process, through the inspector protocol: start the
 * process with `--inspect=127.0.0.1:0`, read the "Debugger listening on ws://…" line it prints on
 * stderr, and ask `HeapProfiler.collectGarbage`. The benchmarks use it to read a process's memory
 * without the garbage of what it just did (V8 collects its old generation when it sees fit, so
 * the RSS right after a burst of connects says as much about timing as about live memory).
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import WebSocket from 'ws';

export const INSPECT_ARG = '--inspect=127.0.0.1:0';

/** Resolves with the inspector's WebSocket URL from a child's stderr (which keeps being read). */
export function inspectorUrl(stderr: Readable, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "Debugger listening" line on stderr')), timeoutMs);
    const lines = createInterface({ input: stderr });
    lines.on('line', (line) => {
      const url = /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
      if (!url) return;
      clearTimeout(timer);
      resolve(url);
    });
  });
}

/** Runs one full (compacting) collection in the inspected process and waits for it to finish. */
export async function collectGarbage(url: string, timeoutMs = 60_000): Promise<void> {
  const socket = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('HeapProfiler.collectGarbage timed out')), timeoutMs);
      socket.on('message', (data) => {
        const reply = JSON.parse(String(data)) as { id?: number; error?: { message: string } };
        if (reply.id !== 1) return;
        clearTimeout(timer);
        if (reply.error) reject(new Error(reply.error.message));
        else resolve();
      });
      socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    });
  } finally {
    socket.close();
  }
}
