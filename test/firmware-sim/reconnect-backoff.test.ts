/**
 * A hub that accepts a device's connection and then drops it (it does so when
 * its store is down and it cannot take the device's event) must not be
 * hammered: a CONNACK alone is no success, so the reconnect delays keep
 * growing; they start over only once a connection has stayed up.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from 'aedes';
import t from 'tap';
import { createSimClock } from '../../firmware-sim/clock.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { acceptAndRecord, startBroker } from './helpers/broker.js';
import { until } from './helpers/wait.js';

t.test('a broker that accepts and then drops every connection gets ever rarer reconnects', async (t) => {
  let storeDown = true;
  const connects: number[] = [];
  const broker = await startBroker({
    aedes: {
      authenticate: acceptAndRecord(connects),
      // An event cannot be stored: refused without a PUBACK, and Aedes closes the connection.
      authorizePublish(_client, packet, callback) {
        if (storeDown && packet.topic.endsWith('/events')) return callback(new Error('store unavailable'));
        callback(null);
      },
    },
  });
  t.teardown(() => broker.close());
  let current: Client | undefined;
  broker.broker.on('client', (client) => (current = client));
  const initialMs = 40;
  const resetAfterMs = 300;
  const device = new SimulatedDispenser({
    id: 'dev-dropped',
    url: broker.url,
    clock: createSimClock(),
    heartbeatSeconds: 60,
    backoff: { initialMs, maxMs: 10_000, resetAfterMs },
  });
  t.teardown(() => device.stop());
  await device.start(); // device.reboot waits in the outbox, and every connection sends it
  await until(() => connects.length >= 6, 10_000, 'six connections');
  const gaps = connects.slice(1, 6).map((at, index) => at - (connects[index] as number));
  // Attempt n waits at least initialMs · 2^n / 2: 20, 40, 80, 160, 320 ms.
  gaps.forEach((gap, index) => t.ok(gap >= (initialMs * 2 ** index) / 2, `reconnect ${index + 1} after ${gap} ms, at least ${(initialMs * 2 ** index) / 2}`));
  t.ok(device.stats().connects >= 5, 'each of those connections was accepted (CONNACK) before it was dropped');
  t.equal(device.pendingEventIds().length, 1, 'and device.reboot still waits to be stored');

  // The store is back: the next connection stays up and delivers.
  storeDown = false;
  await until(() => device.pendingEventIds().length === 0, 10_000, 'the outbox to drain');
  t.ok(device.isConnected, 'and the connection stays up');
  // A connection that lasted longer than resetAfterMs is a success: the delays start over.
  // (The device's timer was set before this one and is shorter, so it has fired by then.)
  await delay(resetAfterMs + 100);
  const before = connects.length;
  const droppedAt = Date.now();
  current?.close(); // the broker drops it
  await until(() => connects.length > before, 5000, 'a reconnect');
  const gap = (connects[before] as number) - droppedAt;
  // Well under what the 7th attempt would wait (at least initialMs · 2^6 / 2 = 1,280 ms), with room for a loaded machine.
  t.ok(gap < 1000, `back after ${gap} ms: the first, short delay again (the 7th attempt would wait over a second)`);
});
