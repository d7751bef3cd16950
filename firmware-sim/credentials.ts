/**
 * Device credentials: `{ id, secret }` per device, read from a JSON file (as
 * written by provisioning), or made up for a broker that allows anonymous
 * clients.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface DeviceCredentials {
  id: string;
  /** MQTT password; absent for anonymous brokers. */
  secret?: string;
}

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export async function readCredentialsFile(path: string): Promise<DeviceCredentials[]> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (!Array.isArray(parsed)) throw new Error(`${path}: expected a JSON array of { id, secret }`);
  return parsed.map((entry, index) => {
    const { id, secret } = (entry ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string' || !DEVICE_ID.test(id)) throw new Error(`${path}[${index}]: id must match ${DEVICE_ID}`);
    if (secret !== undefined && typeof secret !== 'string') throw new Error(`${path}[${index}]: secret must be a string`);
    return secret === undefined ? { id } : { id, secret };
  });
}

export async function writeCredentialsFile(path: string, credentials: readonly DeviceCredentials[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  // The secrets are device passwords: readable by the owner only.
  await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
}

/** `sim-00001`, `sim-00002`… for brokers without authentication. */
export function generatedCredentials(count: number, prefix = 'sim-'): DeviceCredentials[] {
  const width = Math.max(5, String(count).length);
  return Array.from({ length: count }, (_, index) => ({ id: `${prefix}${String(index + 1).padStart(width, '0')}` }));
}
