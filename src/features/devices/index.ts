/**
 * Devices: provisioning and management over REST, the broker's device policy
 * and ingest over MQTT (and its HTTP fallback), presence, schedules, commands,
 * and live news to caregivers. Other features subscribe to stored events with
 * `ingest.onEvent`.
 */
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../../observability/logger.js';
import type { HubContext } from '../context.js';
import type { Identity } from '../identity/index.js';
import { createDeviceAccess } from './access.js';
import { createDeviceChanges } from './changes.js';
import { createClockSync } from './clock-sync.js';
import { createCommands } from './commands.js';
import { createDeviceAuthenticator } from './device-auth.js';
import { createDeviceDirectory } from './directory.js';
import { createIngest, type BackOnline } from './ingest.js';
import { deviceModels } from './models.js';
import { registerDeviceMqtt } from './mqtt.js';
import { createPresence, type Presence } from './presence.js';
import { createDeviceRealtime } from './realtime.js';
import { registerDeviceRoutes } from './routes.js';
import { createSchedules } from './schedule.js';
import { createScheduleCatchUp } from './schedule-catch-up.js';
import { createDeviceService } from './service.js';

export async function registerDevices(ctx: HubContext, { identity }: { identity: Identity }) {
  const models = deviceModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const log = ctx.logger.child({ feature: 'devices' });
  const realtime = createDeviceRealtime(ctx.sockets);
  const directory = createDeviceDirectory(models.Device);
  const { changed } = createDeviceChanges(directory, ctx.mqtt, ctx.sockets);
  const presence = createPresence(models, realtime, ctx.clock, log);
  const ingest = createIngest(models, directory, realtime, backOnline(presence, ctx.mqtt, log), ctx.clock, ctx.config.devices, log, heartbeatMetrics(ctx));
  const commands = createCommands(models, ctx.mqtt, ctx.clock);
  ingest.onHeartbeat(createClockSync(commands, log));
  const schedules = createSchedules(models, ctx.mqtt, ctx.clock);
  ingest.onHeartbeat(createScheduleCatchUp(schedules, log));
  const authenticate = createDeviceAuthenticator(models);
  const service = createDeviceService({ models, identity, assertDevice: createDeviceAccess(models, identity.policy), schedules, commands, mqtt: ctx.mqtt, changed, presence, clock: ctx.clock, config: ctx.config });

  const mqtt = registerDeviceMqtt(ctx.mqtt, { authenticate, ingest, presence, commands, schedules }, log);
  ctx.onClose(() => {
    mqtt.stop();
    return ingest.close();
  });
  registerDeviceRoutes(ctx.http.api, identity.requireUser, service, authenticate, ingest, models);
  ctx.jobs.add('devices.silent-sweep', '*/30 * * * * *', async () => {
    await presence.sweepSilent();
    await presence.sweepOverdueReboots();
  });
  ctx.jobs.add('devices.expire-commands', '*/30 * * * * *', () => commands.expireStale());
  // Events stored but not acted on, which their devices will not resend (see event-claims.ts).
  ctx.jobs.add('devices.recover-events', '*/30 * * * * *', () => ingest.recoverUnprocessed());

  return { models, service, ingest, presence, commands, schedules };
}

export type Devices = Awaited<ReturnType<typeof registerDevices>>;

/**
 * A heartbeat from a device presence called offline: online again through presence — only while
 * its connection to this instance is up (a heartbeat may be written after its device dropped),
 * and said offline again if it dropped meanwhile (its disconnect found it offline and did nothing).
 * A failure is logged: the heartbeat itself is stored.
 */
function backOnline(presence: Presence, mqtt: HubContext['mqtt'], log: Logger): BackOnline {
  return async (deviceId) => {
    if (!mqtt.isConnected(deviceId)) return null;
    try {
      const device = await presence.online(deviceId);
      if (device && !mqtt.isConnected(deviceId)) {
        await presence.offline(deviceId, 'disconnected');
        return null;
      }
      return device;
    } catch (error) {
      log.warn({ err: error, deviceId }, 'could not say a heartbeating device is online again');
      return null;
    }
  };
}

/** How the heartbeat queue keeps up (heartbeat-queue.ts): its pause, and the heartbeats a newer one replaced. */
function heartbeatMetrics(ctx: HubContext) {
  const pause = new Gauge({
    name: 'medhub_heartbeat_write_pause_seconds',
    help: 'Pause before the next write of queued heartbeats: 0.05 with room to spare, longer while the event loop is saturated',
    registers: [ctx.metrics.registry],
  });
  const superseded = new Counter({
    name: 'medhub_heartbeats_superseded_total',
    help: 'Heartbeats not written because newer news of the device took their place while they waited: a newer heartbeat, or a presence change',
    registers: [ctx.metrics.registry],
  });
  return { onPause: (ms: number) => pause.set(ms / 1000), onSuperseded: () => superseded.inc() };
}
