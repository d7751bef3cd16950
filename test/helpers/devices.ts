/** Devices for tests: provisioned over REST, connected with MQTT.js as a dispenser would. */
import { randomUUID } from 'node:crypto';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Hub } from '../../src/hub.js';
import { connectMqtt, request } from './clients.js';
import type { Login } from './factories.js';

export interface ProvisionedDevice {
  id: string;
  secret: string;
  mqtt: { host: string; port: number; wsPath: string; username: string; topics: Record<string, string> };
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export async function provisionDevice(hub: Hub, staff: Login, body: Record<string, unknown> = {}): Promise<ProvisionedDevice> {
  const response = await request<ProvisionedDevice>(hub, 'POST', '/api/v1/devices', { token: staff.token, body: { serial: `SN-${randomUUID().slice(0, 8)}`, ...body } });
  if (response.status !== 201) throw new Error(`provisioning failed: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

export function connectDevice(t: Teardown, hub: Hub, device: Pick<ProvisionedDevice, 'id' | 'secret'>, options: IClientOptions = {}): Promise<MqttClient> {
  return connectMqtt(t, hub, { clientId: device.id, username: device.id, password: device.secret, clean: false, ...options });
}

export const topic = (deviceId: string, name: string): string => `v1/devices/${deviceId}/${name}`;

/** The Last Will the firmware registers for a connection (TOPICS.md: status). */
export const willOf = (deviceId: string, connectionId: string) => ({
  topic: topic(deviceId, 'status'),
  payload: Buffer.from(JSON.stringify({ state: 'offline', connectionId, reason: 'connection_lost' })),
  qos: 1 as const,
  retain: true,
});

/** Connects as the firmware does: a Last Will naming this connection, then `online` with the same id. */
export async function connectAnnounced(t: Teardown, hub: Hub, device: ProvisionedDevice, connectionId: string): Promise<MqttClient> {
  const client = await connectDevice(t, hub, device, { will: willOf(device.id, connectionId), reconnectPeriod: 0 });
  await client.publishAsync(topic(device.id, 'status'), JSON.stringify({ state: 'online', connectionId, at: new Date().toISOString() }), { qos: 1, retain: true });
  return client;
}

/** Says goodbye as the firmware does before a deliberate disconnect (`shutdown`, `reboot`), then disconnects. */
export async function announceOffline(client: MqttClient, deviceId: string, connectionId: string, reason: 'shutdown' | 'reboot'): Promise<void> {
  await client.publishAsync(topic(deviceId, 'status'), JSON.stringify({ state: 'offline', connectionId, reason }), { qos: 1, retain: true });
  await client.endAsync();
}

export function heartbeat(overrides: Record<string, unknown> = {}) {
  return { at: new Date().toISOString(), batteryPercent: 87, rssiDbm: -61, firmwareVersion: '1.4.2', uptimeSeconds: 3600, appliedScheduleVersion: 0, slots: [{ slot: 1, pills: 20 }], ...overrides };
}

export function doseTaken(overrides: Record<string, unknown> = {}) {
  return { eventId: randomUUID(), type: 'dose.taken', at: new Date().toISOString(), slot: 1, pills: 1, dueAt: new Date(Date.now() - 60_000).toISOString(), ...overrides };
}

export interface Received {
  payload: Record<string, unknown>;
  retain: boolean;
}

/** Subscribes to a topic and returns a function that resolves with the next message on it. */
export async function inbox(client: MqttClient, topicName: string): Promise<(ms?: number) => Promise<Received>> {
  const queue: Received[] = [];
  const waiting: ((message: Received) => void)[] = [];
  client.on('message', (received, payload, packet) => {
    if (received !== topicName) return;
    const message = { payload: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain };
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  await client.subscribeAsync(topicName, { qos: 1 });
  return (ms = 5000) => {
    const queued = queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (message: Received): void => {
        clearTimeout(timer);
        resolve(message);
      };
      // A wait that timed out gives up its place: the next message is for the next wait.
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(waiter), 1);
        reject(new Error(`no message on ${topicName}`));
      }, ms);
      waiting.push(waiter);
    });
  };
}

/** Resolves with the next message on a topic (subscribing first; for retained messages). */
export async function nextMessage(client: MqttClient, topicName: string, ms = 5000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topicName}`)), ms);
    const onMessage = (received: string, payload: Buffer, packet: { retain: boolean }) => {
      if (received !== topicName) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ payload: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain });
    };
    client.on('message', onMessage);
    client.subscribeAsync(topicName, { qos: 1 }).catch(reject);
  });
}

/** Polls until `check` returns a value (for state written by another connection). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
