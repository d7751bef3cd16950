/**
 * The compact connection-state-recovery adapter, driven through a real Socket.IO server (no
 * network: the adapter's buffer and sessions are what is under test) with a short window.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { CompactRecoveryAdapter } from '../../src/transports/socket/recovery-adapter.js';

const WINDOW_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Offsets are this process's prefix and a base-36 sequence number (the adapter's format). */
const prefixOf = (adapter: CompactRecoveryAdapter): string => (adapter as unknown as { offsetPrefix: string }).offsetPrefix;

t.test('recovers while every event after the offset is buffered, even when the offset’s own event expired', async (t) => {
  const io = new Server({ connectionStateRecovery: { maxDisconnectionDuration: WINDOW_MS }, adapter: CompactRecoveryAdapter });
  const adapter = io.of('/').adapter as CompactRecoveryAdapter;
  t.equal(await adapter.restoreSession('unknown', `${prefixOf(adapter)}0`), null, 'an unknown session is not recovered');

  io.to('room:a').emit('news', { n: 1 });
  const firstOffset = `${prefixOf(adapter)}0`;
  await sleep(WINDOW_MS + 50);
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['room:a'], data: {} });
  io.to('room:a').emit('news', { n: 2 });
  io.to('room:b').emit('news', { n: 3 });
  io.to('room:a').emit('news', { n: 4 });

  const session = await adapter.restoreSession('p1', firstOffset);
  t.equal(adapter.bufferedEvents, 3, 'the expired event is gone');
  t.ok(session, 'recovered: nothing after the offset is missing');
  t.same(session?.missedPackets.map((packet) => (packet[1] as { n: number }).n), [2, 4], 'the events for its rooms, in order');
  t.equal(await adapter.restoreSession('p1', 'not-an-offset'), null, 'a foreign offset is not recovered');
});

t.test('does not recover when events after the offset have expired, or the session has', async (t) => {
  const io = new Server({ connectionStateRecovery: { maxDisconnectionDuration: WINDOW_MS }, adapter: CompactRecoveryAdapter });
  const adapter = io.of('/').adapter as CompactRecoveryAdapter;
  const prefix = prefixOf(adapter);
  io.to('room:a').emit('news', { n: 1 });
  io.to('room:a').emit('news', { n: 2 });
  await sleep(WINDOW_MS + 50);
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['room:a'], data: {} });
  io.to('room:a').emit('news', { n: 3 });
  t.equal(await adapter.restoreSession('p1', `${prefix}0`), null, 'event 2, after the offset, is gone');
  t.ok(await adapter.restoreSession('p1', `${prefix}1`), 'from event 2 on nothing is missing');
  await sleep(WINDOW_MS + 50);
  t.equal(await adapter.restoreSession('p1', `${prefix}2`), null, 'the session itself expired');
});

/** A Socket.IO server on a free port, with the adapter given (Socket.IO's own when undefined). */
async function serve(t: Test, adapter?: typeof CompactRecoveryAdapter): Promise<{ io: Server; url: string }> {
  const http = createServer();
  const io = new Server(http, { connectionStateRecovery: { maxDisconnectionDuration: 60_000 }, ...(adapter ? { adapter } : {}) });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => io.close(() => resolve())));
  return { io, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** Every `news` a client of `namespace` receives, as socket.io-client decodes it (the offset Socket.IO appends left out). */
async function received(t: Test, url: string, namespace: string, count: number, send: () => void): Promise<unknown[]> {
  const client = connect(`${url}${namespace}`, { transports: ['websocket'] });
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const all: unknown[] = [];
  const done = new Promise<void>((resolve) => {
    client.on('news', (...args: unknown[]) => {
      all.push(args.slice(0, -1));
      if (all.length === count) resolve();
    });
  });
  send();
  await done;
  return all;
}

t.test('what clients receive is what Socket.IO’s own adapter sends, on any namespace, with or without binary', async (t) => {
  const payloads: unknown[][] = [
    [{ n: 1, nested: { list: [1, 'two', null, true], at: new Date('2026-01-02T03:04:05Z') } }],
    ['several', 'arguments', 3, ['é', '😀', '"quoted"\n']],
    [{ file: Buffer.from('bytes') }],
    [{ custom: { toJSON: () => Buffer.from('via toJSON') } }],
    [{ custom: { toJSON: () => ({ plain: 'via toJSON' }) } }],
  ];
  for (const namespace of ['/', '/other']) {
    const ours = await serve(t, CompactRecoveryAdapter);
    const theirs = await serve(t);
    for (const io of [ours.io, theirs.io]) io.of(namespace); // a client may only join a namespace that exists
    const send = (io: Server) => () => {
      for (const args of payloads) io.of(namespace).emit('news', ...args);
    };
    const viaOurs = await received(t, ours.url, namespace, payloads.length, send(ours.io));
    const viaTheirs = await received(t, theirs.url, namespace, payloads.length, send(theirs.io));
    t.same(viaOurs, viaTheirs, `the same arguments on ${namespace}`);
    t.ok(Buffer.isBuffer((viaOurs[3] as Array<{ custom: unknown }>)[0]?.custom), 'binary from toJSON still arrives as binary');
    t.equal((ours.io.of(namespace).adapter as CompactRecoveryAdapter).bufferedEvents, payloads.length, 'and every one is kept for recovery');
  }
});
