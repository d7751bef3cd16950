/**
 * Devices prove who they are with their id and secret: as MQTT username and
 * password, or as HTTP Basic credentials on the HTTP fallback. Failed attempts
 * are counted per device id from an address, and per address; past the limit
 * that address is refused for a while (CONNACK 3 / HTTP 429), even with the
 * right secret. Not per device id alone: device ids are no secret (caregivers
 * see them), and anyone could then keep a patient's dispenser out for good
 * with ten wrong CONNECTs every five minutes. Guessing a 256-bit secret is
 * hopeless anyway; the limits keep the attempts cheap, not the secret safe.
 */
import type { Middleware } from 'koa';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { AppError } from '../../errors.js';
import type { MqttPrincipal } from '../../transports/mqtt/policy.js';
import { secretMatches } from './credentials.js';
import type { DeviceDoc, DeviceModels } from './models.js';
import { burstLoader } from '../burst-loader.js';

const FAILURES_PER_DEVICE = { points: 10, duration: 300, blockDuration: 300 };
const FAILURES_PER_ADDRESS = { points: 100, duration: 300, blockDuration: 300 };

export function createDeviceAuthenticator(models: DeviceModels) {
  // A fleet reconnecting after a restart sends thousands of CONNECTs at once: their lookups share one query per burst.
  const credentials = burstLoader<string, DeviceDoc | null>(
    async (ids) => {
      const found = await models.Device.find({ _id: { $in: [...ids] } }, { secretHash: 1, disabled: 1, organisationId: 1, patientId: 1, 'schedule.version': 1 }).lean<DeviceDoc[]>();
      const byId = new Map(found.map((device) => [device._id, device]));
      return ids.map((id) => byId.get(id) ?? null);
    },
  );
  const byDevice = new RateLimiterMemory({ keyPrefix: 'device-auth', ...FAILURES_PER_DEVICE });
  const byAddress = new RateLimiterMemory({ keyPrefix: 'device-auth-ip', ...FAILURES_PER_ADDRESS });

  const deviceFrom = (deviceId: string, address: string): string => `${deviceId}@${address}`;

  async function blocked(deviceId: string, address: string): Promise<boolean> {
    const [device, ip] = await Promise.all([byDevice.get(deviceFrom(deviceId, address)), byAddress.get(address)]);
    return (device?.consumedPoints ?? 0) >= FAILURES_PER_DEVICE.points || (ip?.consumedPoints ?? 0) >= FAILURES_PER_ADDRESS.points;
  }

  return async function authenticateDevice(deviceId: string, secret: string | undefined, address = 'unknown'): Promise<DevicePrincipal> {
    if (await blocked(deviceId, address)) throw new AppError('rate_limited', 'Too many failed attempts; try again later', { headers: { 'Retry-After': '300' } });
    const device = secret ? await credentials.load(deviceId) : null;
    if (!device || device.disabled || !secretMatches(device.secretHash, secret ?? '')) {
      await Promise.all([byDevice.consume(deviceFrom(deviceId, address)).catch(() => undefined), byAddress.consume(address).catch(() => undefined)]);
      throw new AppError('invalid_credentials', 'Unknown device or wrong secret');
    }
    await byDevice.delete(deviceFrom(deviceId, address));
    return { kind: 'device', deviceId, organisationId: String(device.organisationId), patientId: device.patientId ? String(device.patientId) : null, scheduleVersion: device.schedule?.version ?? 0 };
  };
}

/** A device as it authenticated, with the version of its stored schedule (0: none yet), read in the same query. */
export type DevicePrincipal = MqttPrincipal & { scheduleVersion: number };

export type DeviceAuthenticator = ReturnType<typeof createDeviceAuthenticator>;

const DEVICE_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="medhub-devices"' };

/** Whether a request carries HTTP Basic credentials (the scheme is case-insensitive). */
export const sendsBasicCredentials = (authorization: string): boolean => /^basic /i.test(authorization.trim());

/** HTTP Basic with the device id and secret; the path's device must be the caller. */
export function requireDevice(authenticate: DeviceAuthenticator): Middleware {
  return async function authenticateDeviceRequest(ctx, next) {
    const match = /^basic +([A-Za-z0-9+/=]{4,512})$/i.exec(ctx.get('Authorization').trim());
    const [id, secret] = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8').split(':') : [];
    if (!id || !secret) throw new AppError('unauthenticated', 'Device credentials are required', { headers: DEVICE_CHALLENGE });
    const principal = await authenticate(id, secret, ctx.ip).catch((error: unknown) => {
      // Refused credentials are challenged again, as RFC 7235 asks of every 401.
      throw error instanceof AppError && error.status === 401 ? new AppError(error.code, error.message, { headers: DEVICE_CHALLENGE }) : error;
    });
    if (principal.deviceId !== (ctx as { params?: { id?: string } }).params?.id) throw new AppError('forbidden', 'A device may only act as itself');
    ctx.state.device = principal;
    await next();
  };
}
