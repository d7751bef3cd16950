/**
 * The compact connection-state-recovery adapter, driven through a real Socket.IO server (no
 * network: the adapter's buffer and sessions are what is under test) with a short window.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { CompactRecoveryAdapter } from '../../src/transports/socket/recovery-adapter.js';
import { dropTransport } from '../helpers/clients.js';

const WINDOW_MS = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Offsets are this process's prefix and a base-36 sequence number (the adapter's format). */
const prefixOf = (adapter: CompactRecoveryAdapter): string => (adapter as unknown as { offsetPrefix: string }).offsetPrefix;

/** A server with no network: sockets are the adapter's calls, made by hand as Socket.IO makes them. */
function shortWindowServer(windowMs = WINDOW_MS): { io: Server; adapter: CompactRecoveryAdapter } {
  const io = new Server({ connectionStateRecovery: { maxDisconnectionDuration: windowMs }, adapter: CompactRecoveryAdapter });
  return { io, adapter: io.of('/').adapter as CompactRecoveryAdapter };
}

t.test('recovers with the events sent to its rooms after its offset, in order', async (t) => {
  const { io, adapter } = shortWindowServer();
  t.equal(await adapter.restoreSession('unknown', `${prefixOf(adapter)}0`), null, 'an unknown session is not recovered');
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['room:a'], data: {} });
  io.to('room:a').emit('news', { n: 1 });
  io.to('room:b').emit('news', { n: 2 });
  io.to('room:a').emit('news', { n: 3 });
  const session = await adapter.restoreSession('p1', `${prefixOf(adapter)}0`);
  t.same(session?.missedPackets.map((packet) => (packet[1] as { n: number }).n), [3], 'after the offset, for its rooms');
  t.equal(await adapter.restoreSession('p1', 'not-an-offset'), null, 'a foreign offset is not recovered');
  t.equal(await adapter.restoreSession('p1', `${prefixOf(adapter)}9`), null, 'nor one not given yet');
});

t.test('a client that recovers twice, dropping again before what it missed reached it, is sent it again', async (t) => {
  const { io, adapter } = shortWindowServer(60_000);
  await adapter.addAll('s1', new Set(['s1', 'room:a'])); // a socket connects (Socket.IO's own call)
  io.to('s1').emit('ready', {});
  const offset = `${prefixOf(adapter)}0`;
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['s1', 'room:a'], data: {} });
  adapter.delAll('s1');
  io.to('room:a').emit('news', { n: 1 });
  const first = await adapter.restoreSession('p1', offset);
  t.same(first?.missedPackets.map((packet) => (packet[1] as { n: number }).n), [1], 'the first recovery sends it');
  // The recovered socket (same id) connects, and its connection drops before n 1 arrives.
  await adapter.addAll('s1', new Set(['s1']));
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['s1', 'room:a'], data: {} });
  adapter.delAll('s1');
  const second = await adapter.restoreSession('p1', offset);
  t.same(second?.missedPackets.map((packet) => (packet[1] as { n: number }).n), [1], 'so does the second: the session goes on from its first connection');
});

t.test('a client with an old offset does not recover when an event it may have missed expired', async (t) => {
  const { io, adapter } = shortWindowServer(1000);
  await adapter.addAll('s1', new Set(['s1', 'room:a']));
  io.to('s1').emit('ready', {});
  const offset = `${prefixOf(adapter)}0`;
  io.to('room:b').emit('news', { n: 2 }); // perhaps for it: no heartbeat has confirmed anything yet
  await sleep(500);
  adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['s1', 'room:a'], data: {} });
  adapter.delAll('s1');
  t.equal(adapter.recoverableIn('room:a'), true, 'reachable while every event after its offset is kept');
  await sleep(700); // event 2 expired; the session, 700 ms old, has not
  t.equal(await adapter.restoreSession('p1', offset), null, 'not recovered from before event 2');
  t.equal(adapter.recoverableIn('room:a'), false, 'nor counted as reachable');
  t.ok(await adapter.restoreSession('p1', `${prefixOf(adapter)}1`), 'the session itself is still there: from event 2 on, nothing is missing');
});

/** A socket in the namespace whose connection's heartbeats the test sends by hand. */
async function socketWithHeartbeats(io: Server, adapter: CompactRecoveryAdapter, id: string, rooms: string[]) {
  const conn = new EventEmitter();
  // What a broadcast uses of a socket: its client, writing to the connection (nothing to write to here).
  const fake = { conn, client: { writeToEngine: () => undefined } };
  (io.of('/').sockets as unknown as Map<string, typeof fake>).set(id, fake);
  await adapter.addAll(id, new Set([id, ...rooms]));
  return {
    heartbeat(): void {
      conn.emit('packetCreate', { type: 'ping' });
      conn.emit('packet', { type: 'pong' });
    },
  };
}

t.test('heartbeats answered after the socket is set up confirm what was sent before them; earlier ones do not', async (t) => {
  for (const setUpFirst of [true, false]) {
    const { io, adapter } = shortWindowServer();
    const socket = await socketWithHeartbeats(io, adapter, 's1', ['room:a']);
    if (setUpFirst) io.to('s1').emit('ready', {}); // set up: heartbeats count from now on
    else io.to('room:a').emit('news', { n: 0 }); // an offset, but not set up (what it missed may not be sent yet)
    const offset = `${prefixOf(adapter)}0`;
    io.to('room:b').emit('news', { n: 1 });
    socket.heartbeat();
    await sleep(WINDOW_MS + 50); // event 1 expires
    adapter.persistSession({ sid: 's1', pid: 'p1', rooms: ['s1', 'room:a'], data: {} });
    adapter.delAll('s1');
    const session = await adapter.restoreSession('p1', offset);
    if (setUpFirst) t.ok(session, 'set up: the heartbeat after event 1 says it was received, so its expiry loses nothing');
    else t.equal(session, null, 'not set up: the heartbeat confirms nothing, and event 1 may have been missed');
  }
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

/** Connects a client to `url` and resolves with it and its server-side socket once connected. */
async function connectedPair(t: Test, io: Server, url: string) {
  const client = connect(url, { transports: ['websocket'], reconnection: false });
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const server = io.of('/').sockets.get(client.id as string);
  if (server === undefined) throw new Error('no server-side socket');
  return { client, server };
}

t.test('a dropped socket counts as reachable in its rooms only once its client holds an offset', async (t) => {
  const { io, url } = await serve(t, CompactRecoveryAdapter);
  const adapter = io.of('/').adapter as CompactRecoveryAdapter;
  const silent = await connectedPair(t, io, url);
  silent.server.join('room:silent');
  await dropTransport(io, silent.client);
  t.equal(adapter.recoverableIn('room:silent'), false, 'a client that received nothing cannot ask to recover');

  const greeted = await connectedPair(t, io, url);
  greeted.server.join('room:greeted');
  const hello = new Promise((resolve) => greeted.client.once('hello', resolve));
  io.to(greeted.server.id).emit('hello', {});
  await hello;
  await dropTransport(io, greeted.client);
  t.equal(adapter.recoverableIn('room:greeted'), true, 'one sent an event of its own can');
  t.equal(adapter.recoverableIn('room:elsewhere'), false, 'in its rooms only');
});

t.test('a recovered client is not sent again what came before it reconnected', async (t) => {
  const { io, url } = await serve(t, CompactRecoveryAdapter);
  const client = connect(url, { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 20 });
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  io.of('/').sockets.get(client.id as string)?.join('room:a');
  const news: number[] = [];
  client.on('news', (payload: { n: number }) => news.push(payload.n));
  const until = async (count: number) => {
    for (let i = 0; i < 200 && news.length < count; i++) await sleep(10);
  };
  io.to(client.id as string).emit('hello', {});
  await new Promise((resolve) => client.once('hello', resolve));
  await dropTransport(io, client);
  io.to('room:a').emit('news', { n: 1 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.ok(client.recovered, 'recovered');
  await until(1);
  // The client's offset is still the greeting's: n 1 came as a missed event, which carries its offset too.
  await dropTransport(io, client);
  io.to('room:a').emit('news', { n: 2 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.ok(client.recovered, 'recovered again');
  await until(2);
  await sleep(50);
  t.same(news, [1, 2], 'each event once');
});

t.test('a client in a new session is sent only what came after that session began, whatever its offset', async (t) => {
  const { io, url } = await serve(t, CompactRecoveryAdapter);
  const client = connect(url, { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 20 });
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const greeted = new Promise((resolve) => client.once('hello', resolve));
  io.to(client.id as string).emit('hello', {});
  await greeted; // the client's offset, kept by socket.io-client from now on
  const news: number[] = [];
  client.on('news', (payload: { n: number }) => news.push(payload.n));
  // A goodbye, then a new session: what was sent in between is not this session's to recover.
  client.disconnect();
  io.to('room:a').emit('news', { n: 1 });
  client.connect();
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.notOk(client.recovered, 'a new session');
  io.of('/').sockets.get(client.id as string)?.join('room:a');
  await dropTransport(io, client);
  io.to('room:a').emit('news', { n: 2 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.ok(client.recovered, 'recovered with the offset of its earlier session');
  for (let i = 0; i < 200 && news.length < 1; i++) await sleep(10);
  await sleep(50);
  t.same(news, [2], 'only what its new session missed');
});

t.test('a quiet client recovers: its heartbeats say what it has processed, however old its offset', async (t) => {
  const http = createServer();
  // Heartbeats every 50 ms; events kept 400 ms.
  const io = new Server(http, { connectionStateRecovery: { maxDisconnectionDuration: 400 }, pingInterval: 50, pingTimeout: 1000, adapter: CompactRecoveryAdapter });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => io.close(() => resolve())));
  const adapter = io.of('/').adapter as CompactRecoveryAdapter;
  const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], reconnectionDelay: 20, reconnectionDelayMax: 20 });
  t.teardown(() => client.close());
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  io.of('/').sockets.get(client.id as string)?.join('room:a');
  const ready = new Promise((resolve) => client.once('ready', resolve));
  io.to(client.id as string).emit('ready', {}); // its one event: its offset from now on
  await ready;
  // Events for others only, for longer than events are kept, while heartbeats go on.
  for (let n = 1; n <= 5; n++) {
    io.to('room:b').emit('news', { n });
    await sleep(100);
  }
  await sleep(200);
  const news: number[] = [];
  client.on('news', (payload: { n: number }) => news.push(payload.n));
  await dropTransport(io, client);
  io.to('room:a').emit('news', { n: 6 });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  t.ok(client.recovered, 'recovered, though the events after its offset have expired');
  t.ok(adapter.bufferedEvents < 6, `they have (${adapter.bufferedEvents} kept)`);
  for (let i = 0; i < 100 && news.length < 1; i++) await sleep(10);
  t.same(news, [6], 'with what was sent to it while it was away');
});
