/** Real clients for tests: MQTT.js, socket.io-client and fetch, with small await helpers. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { io, type Socket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import type { Server } from 'socket.io';
import type { Hub } from '../../src/hub.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Connects an MQTT client (MQTT 3.1.1, as Aedes speaks) and resolves on CONNACK or rejects with its error. */
export function connectMqtt(t: Teardown, hub: Hub, options: IClientOptions = {}): Promise<MqttClient> {
  return connected(t, mqtt.connect(hub.urls.mqtt, { ...MQTT_TEST_OPTIONS, ...options }));
}

/** What test clients connect with: MQTT 3.1.1, no reconnection, a CONNACK within 5 s. */
export const MQTT_TEST_OPTIONS = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 } as const satisfies IClientOptions;

/** Resolves with the client on CONNACK, or rejects with its error; it is ended with the test. */
export async function connected(t: Teardown, client: MqttClient): Promise<MqttClient> {
  t.teardown(() => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

export function connectSocket(t: Teardown, hub: Hub, options: Partial<ManagerOptions & SocketOptions> = {}): Socket {
  const socket = io(hub.urls.socket, { transports: ['websocket'], reconnection: false, forceNew: true, ...options });
  t.teardown(() => socket.close());
  return socket;
}

/**
 * Resolves once the hub has run its connection hooks for a connected socket: the hook that joins
 * the user's rooms queries the store first, so an answer to an event sent after `connect` does
 * not prove it has finished; the server-side socket being in its `session:` room does.
 */
export async function roomsJoined(hub: Hub, socket: Socket, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const onServer = socket.id === undefined ? undefined : hub.context.sockets.io.of('/').sockets.get(socket.id);
    // The session room is joined last, with the patient rooms (features/identity/socket.ts).
    if (onServer && [...onServer.rooms].some((room) => room.startsWith('session:'))) return;
    if (Date.now() > deadline) throw new Error(`socket ${String(socket.id)} did not join its rooms in time`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Drops a client's transport, as a network blip does (not a goodbye, so the server keeps its session
 * for recovery), and waits until the server `io` has let the socket go.
 */
export async function dropTransport(io: Pick<Server, 'of'>, socket: Socket): Promise<void> {
  const id = socket.id as string;
  socket.io.engine.close();
  while (io.of('/').sockets.has(id)) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Resolves with the arguments of the next `event`, or rejects after `ms`. */
export function nextEvent<T = unknown>(emitter: { once(event: string, fn: (...args: never[]) => void): unknown }, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    emitter.once(event, ((value: T) => {
      clearTimeout(timer);
      resolve(value);
    }) as (...args: never[]) => void);
  });
}

// Tests read response bodies loosely and assert on them; the schemas are checked by the hub.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBody = Record<string, any>;

/** Resolves with the next `event` whose payload satisfies `accept`. */
export function nextEventWhere<T = Record<string, unknown>>(emitter: { on(event: string, fn: (value: T) => void): unknown; off(event: string, fn: (value: T) => void): unknown }, event: string, accept: (value: T) => boolean, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for a matching ${event}`)), ms);
    const listener = (value: T): void => {
      if (!accept(value)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(value);
    };
    emitter.on(event, listener);
  });
}

export interface JsonResponse<T = AnyBody> {
  status: number;
  headers: Headers;
  body: T;
}

const REQUEST_TIMEOUT_MS = 30_000;

/** fetch + JSON, for REST tests. */
export async function request<T = AnyBody>(hub: Hub, method: string, path: string, options: { body?: unknown; token?: string; headers?: Record<string, string>; rawBody?: string } = {}): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.body);
  }
  // Bounded, so a request the hub never answers fails the test where it hangs, not at the file's timeout.
  const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const response = await fetch(`${hub.urls.http}${path}`, { method, headers, body, signal }).catch((error: unknown) => {
    throw signal.aborted ? new Error(`${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`) : error;
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
}
