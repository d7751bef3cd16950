/**
 * The compact connection-state-recovery adapter, driven through a real Socket.IO server (no
 * network: the adapter's buffer and sessions are what is under test) with a short window.
 */
import t from 'tap';
import { Server } from 'socket.io';
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
