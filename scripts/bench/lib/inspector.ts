/**
 * Another Node process, through the inspector protocol: start the process with
 * `--inspect=127.0.0.1:0`, read the "Debugger listening on ws://…" line it prints on stderr, then
 * send it protocol commands. The benchmarks use it to read a process's memory without the garbage
 * of what it just did (V8 collects its old generation when it sees fit, so the RSS right after a
 * burst of connects says as much about timing as about live memory), and to sample what a phase
 * allocates.
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

/** An open inspector session: one command at a time is all the benchmarks need. */
interface InspectorSession {
  send<T = unknown>(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): void;
}

async function openSession(url: string): Promise<InspectorSession> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let nextId = 1;
  return {
    send: <T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 60_000) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`${method} timed out`)), timeoutMs);
        const onMessage = (data: WebSocket.RawData): void => {
          const reply = JSON.parse(String(data)) as { id?: number; result?: T; error?: { message: string } };
          if (reply.id !== id) return;
          clearTimeout(timer);
          socket.off('message', onMessage);
          if (reply.error) reject(new Error(reply.error.message));
          else resolve(reply.result as T);
        };
        socket.on('message', onMessage);
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** Runs one full (compacting) collection in the inspected process and waits for it to finish. */
export async function collectGarbage(url: string, timeoutMs = 60_000): Promise<void> {
  const session = await openSession(url);
  try {
    await session.send('HeapProfiler.collectGarbage', {}, timeoutMs);
  } finally {
    session.close();
  }
}

interface AllocationNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocationNode[];
}

/**
 * Samples what the inspected process allocates for `ms`, garbage included (V8's sampling heap
 * profiler, one sample per `intervalBytes` on average, keeping the samples of objects that young
 * or full collections have freed since). Answers the profile, as Chrome DevTools opens it
 * (.heapprofile), and the bytes sampled.
 */
export interface AllocationSample {
  profile: { head: AllocationNode };
  bytes: number;
}

/**
 * `survivorsOnly`: leave out what a young-generation collection freed, keeping what was promoted
 * to the old generation (whose growth sets how often the hub runs a full mark-compact).
 */
export async function sampleAllocations(url: string, ms: number, { survivorsOnly = false, intervalBytes = 64 * 1024 } = {}): Promise<AllocationSample> {
  const session = await openSession(url);
  try {
    await session.send('HeapProfiler.startSampling', { samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !survivorsOnly });
    await new Promise((resolve) => setTimeout(resolve, ms));
    const { profile } = await session.send<{ profile: { head: AllocationNode } }>('HeapProfiler.stopSampling');
    return { profile, bytes: totalSize(profile.head) };
  } finally {
    session.close();
  }
}

const totalSize = (node: AllocationNode): number => node.selfSize + node.children.reduce((sum, child) => sum + totalSize(child), 0);

/** The functions that allocated most (self), as "share name file:line" lines. */
export function topAllocators(profile: { head: AllocationNode }, count = 25): string[] {
  const bySite = new Map<string, number>();
  const visit = (node: AllocationNode): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const site = `${functionName || '(anonymous)'} ${url.split('/').slice(-3).join('/')}:${lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    node.children.forEach(visit);
  };
  visit(profile.head);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  return [...bySite]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([site, bytes]) => `${((100 * bytes) / total).toFixed(1).padStart(5)}% ${site}`);
}
