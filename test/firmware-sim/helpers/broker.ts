/**
 * A bare Aedes broker on a free port, standing in for the hub in simulator
 * tests. It records every message published under v1/devices/ (device
 * publishes and Last Wills alike) so tests can check exactly what went over
 * the wire.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';

export interface Captured {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  clientId: string | undefined;
}

export interface TestBroker {
  broker: Aedes;
  port: number;
  url: string;
  captured: Captured[];
  /** Resolves with the first captured message (already seen or still to come) that matches. */
  waitFor(match: (message: Captured) => boolean, timeoutMs?: number): Promise<Captured>;
  /** Publishes as the hub would (retained schedules, commands). */
  publish(topic: string, payload: unknown, options?: { retain?: boolean; qos?: 0 | 1 }): Promise<void>;
  close(): Promise<void>;
  /** Drops every connection at once and stops, like a killed process: no graceful close. */
  crash(): Promise<void>;
}

export async function startBroker(options: { port?: number; aedes?: AedesOptions } = {}): Promise<TestBroker> {
  const broker = await Aedes.createBroker(options.aedes);
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const captured: Captured[] = [];
  const waiters = new Set<{ match: (message: Captured) => boolean; resolve: (message: Captured) => void }>();
  broker.on('publish', (packet, client) => {
    if (!packet.topic.startsWith('v1/devices/')) return;
    const message: Captured = {
      topic: packet.topic,
      payload: Buffer.from(packet.payload).toString('utf8'),
      qos: packet.qos,
      retain: packet.retain,
      clientId: client?.id,
    };
    captured.push(message);
    for (const waiter of waiters) {
      if (!waiter.match(message)) continue;
      waiters.delete(waiter);
      waiter.resolve(message);
    }
  });
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    captured,
    waitFor(match, timeoutMs = 10_000) {
      const seen = captured.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error('no matching message published in time'));
        }, timeoutMs);
        const waiter = {
          match,
          resolve: (message: Captured) => {
            clearTimeout(timer);
            resolve(message);
          },
        };
        waiters.add(waiter);
      });
    },
    publish(topic, payload, { retain = false, qos = 1 } = {}) {
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from(body), qos, retain, dup: false }, (error) =>
          error ? reject(error) : resolve(),
        ),
      );
    },
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    async crash() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      broker.close();
    },
  };
}

/** An Aedes `authenticate` hook that accepts every client and notes when each CONNECT came (ms, Date.now()) into `connects`. */
export function acceptAndRecord(connects: number[]): NonNullable<AedesOptions['authenticate']> {
  return (_client, _username, _password, done) => {
    connects.push(Date.now());
    done(null, true);
  };
}

/** Parsed JSON payloads captured on one topic kind (`events`, `acks`…), optionally of one device. */
export function payloadsOn<T = Record<string, unknown>>(broker: TestBroker, kind: string, deviceId?: string): T[] {
  return broker.captured
    .filter((message) => message.topic.endsWith(`/${kind}`) && (!deviceId || message.topic === `v1/devices/${deviceId}/${kind}`))
    .map((message) => JSON.parse(message.payload) as T);
}
