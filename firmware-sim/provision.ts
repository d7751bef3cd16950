/**
 * Client for the hub's device provisioning endpoint, as the devices feature
 * will define it:
 *
 *   POST {hubUrl}/api/v1/devices        Authorization: Bearer <token>
 *   { serial, name?, patientId? }  →  201 { id, secret, mqtt: { host, port, wsPath, username, topics } }
 *
 * Errors are application/problem+json. Each request carries an
 * Idempotency-Key derived from the serial, so a retry after a timeout can
 * never create the device twice.
 */
import type { DeviceCredentials } from './credentials.js';
import type { TopicName } from './topics.js';

export interface ProvisionRequest {
  serial: string;
  name?: string;
  patientId?: string;
}

export interface ProvisionedDevice {
  id: string;
  secret: string;
  mqtt: {
    host: string;
    port: number;
    wsPath?: string;
    username: string;
    /** Equal to the username (and the id). */
    clientId?: string;
    /** The device's topics by name, e.g. { events: 'v1/devices/{id}/events', … }. */
    topics?: Partial<Record<TopicName, string>>;
  };
}

export interface ProvisionOptions {
  hubUrl: string;
  token: string;
  /** Attempts for network errors, 429 and 5xx (default 3). */
  attempts?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class ProvisioningError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly problem?: unknown,
  ) {
    super(message);
    this.name = 'ProvisioningError';
  }
}

const RETRY_BASE_MS = 250;

export async function provisionDevice(request: ProvisionRequest, options: ProvisionOptions): Promise<ProvisionedDevice> {
  const attempts = options.attempts ?? 3;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await postDevice(request, options);
    } catch (error) {
      lastError = error;
      if (!isTransient(error) || attempt === attempts) break;
      await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 2 ** (attempt - 1)));
    }
  }
  throw lastError;
}

export interface ProvisionFleetOptions extends ProvisionOptions {
  count: number;
  serialPrefix?: string;
  patientId?: string;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
}

/** Provisions `count` devices with serials `{prefix}-00001`…, a few requests at a time. */
export async function provisionDevices(options: ProvisionFleetOptions): Promise<ProvisionedDevice[]> {
  const prefix = options.serialPrefix ?? 'SIM';
  const width = Math.max(5, String(options.count).length);
  const results = new Array<ProvisionedDevice>(options.count);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < options.count) {
      const index = next++;
      const serial = `${prefix}-${String(index + 1).padStart(width, '0')}`;
      const request: ProvisionRequest = { serial, name: `Simulated dispenser ${serial}` };
      if (options.patientId) request.patientId = options.patientId;
      results[index] = await provisionDevice(request, options);
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, options.count) }, worker));
  return results;
}

export const credentialsOf = (device: ProvisionedDevice): DeviceCredentials => ({ id: device.id, secret: device.secret });

/** The broker URL a provisioned device should use over TCP. */
export const mqttUrlOf = (device: ProvisionedDevice): string => `mqtt://${device.mqtt.host}:${device.mqtt.port}`;

/**
 * The broker URL with the port the hub listens on now, from its `/ready`: a provisioning answer may
 * be an idempotent replay (the same serials provisioned again) naming the port of an earlier run,
 * and a hub that found 1883 taken listens on another free port at each start. The answer's own URL
 * when the hub does not say.
 */
export async function liveMqttUrl(hubUrl: string, device: ProvisionedDevice, doFetch: typeof fetch = fetch): Promise<string> {
  try {
    const response = await doFetch(new URL('ready', hubUrl.endsWith('/') ? hubUrl : `${hubUrl}/`), { signal: AbortSignal.timeout(5000) });
    const port = ((await response.json()) as { mqtt?: { port?: unknown } }).mqtt?.port;
    if (typeof port === 'number' && Number.isInteger(port) && port > 0) return `mqtt://${device.mqtt.host}:${port}`;
  } catch {
    // The provisioning answer's port, then.
  }
  return mqttUrlOf(device);
}

async function postDevice(request: ProvisionRequest, options: ProvisionOptions): Promise<ProvisionedDevice> {
  const doFetch = options.fetch ?? fetch;
  const url = new URL('api/v1/devices', options.hubUrl.endsWith('/') ? options.hubUrl : `${options.hubUrl}/`);
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${options.token}`,
        'content-type': 'application/json',
        accept: 'application/json, application/problem+json',
        'idempotency-key': `provision-${request.serial}`,
      },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    throw new ProvisioningError(`POST ${url.href} failed: ${(error as Error).message}`);
  }
  const body = await response.json().catch(() => undefined);
  if (!response.ok) {
    const problem = body as { title?: string; detail?: string } | undefined;
    const reason = problem?.detail ?? problem?.title ?? response.statusText;
    throw new ProvisioningError(`provisioning ${request.serial} failed: ${response.status} ${reason}`, response.status, body);
  }
  return readProvisioned(body, request.serial);
}

function readProvisioned(body: unknown, serial: string): ProvisionedDevice {
  const device = body as Partial<ProvisionedDevice> | undefined;
  const mqtt = device?.mqtt;
  const valid =
    typeof device?.id === 'string' &&
    typeof device.secret === 'string' &&
    typeof mqtt?.host === 'string' &&
    Number.isInteger(mqtt.port) &&
    typeof mqtt.username === 'string';
  if (!valid) throw new ProvisioningError(`provisioning ${serial}: the hub's answer lacks id, secret or mqtt {host, port, username}`, 201, body);
  return device as ProvisionedDevice;
}

function isTransient(error: unknown): boolean {
  if (!(error instanceof ProvisioningError)) return false;
  return error.status === undefined || error.status === 429 || error.status >= 500;
}
