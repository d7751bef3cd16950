/** Connection-state recovery, checked the same way on a hub with the in-memory adapter and on one with Redis. */
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { connectSocket, dropTransport, nextEvent, roomsJoined } from './clients.js';

/**
 * A recovering socket gets every event sent to its rooms while it was away, including one sent
 * while the hub was still checking its access (here, by an authorizer that emits as it checks).
 */
export async function recoversWithoutGap(t: Test, hubUnderTest: Hub, token: string): Promise<void> {
  const room = `gap-test:${randomUUID()}`;
  hubUnderTest.context.sockets.authorizeRooms('gap-test:', async () => {
    hubUnderTest.context.sockets.emit(room, 'news', { n: 3, sentWhile: 'authorizing' });
    return true;
  });
  const socket = connectSocket(t, hubUnderTest, { auth: { token }, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 });
  await nextEvent(socket, 'connect');
  await roomsJoined(hubUnderTest, socket);
  hubUnderTest.context.sockets.io.in(socket.id as string).socketsJoin(room);
  const news: unknown[] = [];
  socket.on('news', (payload: { n: number }) => news.push(payload.n));
  const first = nextEvent(socket, 'news');
  hubUnderTest.context.sockets.emit(room, 'news', { n: 1 });
  await first; // the client knows its offset
  await dropTransport(hubUnderTest.context.sockets.io, socket);
  hubUnderTest.context.sockets.emit(room, 'news', { n: 2 });
  await nextEvent(socket, 'connect');
  t.ok(socket.recovered, 'recovered');
  for (let i = 0; i < 200 && news.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  hubUnderTest.context.sockets.emit(room, 'news', { n: 4 });
  for (let i = 0; i < 200 && news.length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same(news, [1, 2, 3, 4], 'every event, in order: missed, sent while its access was checked, then live');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.ok(socket.connected, 'and it stays connected');
}

