/**
 * Devices: provisioning and management over REST, the broker's device policy
 * and ingest over MQTT (and its HTTP fallback), presence, schedules, commands,
 * and live news to caregivers. Other features subscribe to stored events with
 * `ingest.onEvent`.
 */
import { Counter, Gauge } from 'prom-client';
import type { HubContext } from '../context.js';
import type { Identity } from '../identity/index.js';
import { createDeviceAccess } from './access.js';
import { createDeviceChanges } from './changes.js';
import { createCommands } from './commands.js';
import { createDeviceAuthenticator } from './device-auth.js';
import { createDeviceDirectory } from './directory.js';
import { createIngest } from './ingest.js';
import { deviceModels } from './models.js';
import { registerDeviceMqtt } from './mqtt.js';
import { createPresence } from './presence.js';
import { createDeviceRealtime } from './realtime.js';
import { registerDeviceRoutes } from './routes.js';
import { createSchedules } from './schedule.js';
import { createDeviceService } from './service.js';

export async function registerDevices(ctx: HubContext, { identity }: { identity: Identity }) {
  const models = deviceModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const log = ctx.logger.child({ feature: 'devices' });
  const realtime = createDeviceRealtime(ctx.sockets);
  const directory = createDeviceDirectory(models.Device);
  const { changed } = createDeviceChanges(directory, ctx.mqtt, ctx.sockets);
  const presence = createPresence(models, realtime, ctx.clock, log);
  const ingest = createIngest(models, directory, realtime, presence.online, ctx.clock, ctx.config.devices, heartbeatMetrics(ctx));
  const commands = createCommands(models, ctx.mqtt, ctx.clock);
  const schedules = createSchedules(models, ctx.mqtt, ctx.clock);
  const authenticate = createDeviceAuthenticator(models);
  const service = createDeviceService({ models, identity, assertDevice: createDeviceAccess(models, identity.policy), schedules, commands, mqtt: ctx.mqtt, changed, config: ctx.config });

  const mqtt = registerDeviceMqtt(ctx.mqtt, authenticate, ingest, presence, commands, log);
  ctx.onClose(() => {
    mqtt.stop();
    return ingest.close();
  });
  registerDeviceRoutes(ctx.http.api, identity.requireUser, service, authenticate, ingest, models);
  ctx.jobs.add('devices.silent-sweep', '*/30 * * * * *', () => presence.sweepSilent());
  ctx.jobs.add('devices.expire-commands', '*/30 * * * * *', () => commands.expireStale());

  return { models, service, ingest, presence, commands, schedules };
}

export type Devices = Awaited<ReturnType<typeof registerDevices>>;

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
