/**
 * Device event → `alert:raised` latency: a dispenser provisioned over REST and
 * connected with MQTT.js to the hub's broker publishes `help.requested` and
 * `device.jam` events (QoS 1), one at a time; a caregiver's client in another
 * process (alert-listener.ts) times the `alert:raised` of each. Measured from
 * just before the PUBLISH leaves to the arrival at the socket: the whole path
 * (broker, ingest, store, alert, Socket.IO). After each sample the alert is
 * resolved, so the next event of the same cause opens a new one.
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import type { AlertsApi } from '../../../src/features/alerts/contract.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { AlertListener } from './alert-listener.js';
import { api } from './hub-process.js';
import { wallNow } from './latency.js';

export const DEVICE_ALERT_TYPES = ['help.requested', 'device.jam'] as const;
export type DeviceAlertType = (typeof DEVICE_ALERT_TYPES)[number];

export interface DeviceAlertOptions {
  /** The hub's REST base (…/api/v1) and MQTT URL. */
  apiBase: string;
  mqttUrl: string;
  /** A staff token to provision the dispenser with. */
  staffToken: string;
  /** A patient the listener's caregiver looks after. */
  patientId: string;
  listener: AlertListener;
  alerts: Pick<AlertsApi, 'resolveCause'>;
  clock: Clock;
  /** Samples per event type. */
  samples: number;
  /** Pause between samples (the hub idle, as between real button presses). */
  pauseMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureDeviceAlerts(options: DeviceAlertOptions): Promise<Record<DeviceAlertType, number[]>> {
  const device = await api<{ id: string; secret: string }>(options.apiBase, 'POST', '/devices', { token: options.staffToken, body: { serial: `BENCH-${randomUUID().slice(0, 8)}`, patientId: options.patientId } });
  const client = await mqtt.connectAsync(options.mqttUrl, { clientId: device.id, username: device.id, password: device.secret, protocolVersion: 4, clean: false, reconnectPeriod: 0, connectTimeout: 10_000 });
  const latencies: Record<DeviceAlertType, number[]> = { 'help.requested': [], 'device.jam': [] };
  try {
    for (let i = 0; i < options.samples * DEVICE_ALERT_TYPES.length; i += 1) {
      const type = DEVICE_ALERT_TYPES[i % DEVICE_ALERT_TYPES.length] as DeviceAlertType;
      const cause = `${type}:${device.id}`;
      const event = { eventId: randomUUID(), type, at: options.clock.now().toISOString(), ...(type === 'device.jam' ? { slot: 1 } : {}) };
      const since = options.listener.arrivals.length;
      const sent = wallNow();
      await client.publishAsync(`v1/devices/${device.id}/events`, JSON.stringify(event), { qos: 1 });
      const arrival = await options.listener.waitFor(cause, since);
      latencies[type].push(arrival.at - sent);
      await options.alerts.resolveCause(cause, 'benchmark');
      await sleep(options.pauseMs ?? 20);
    }
  } finally {
    await client.endAsync(true);
  }
  return latencies;
}
