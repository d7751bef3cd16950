/** REST for devices. Thin: validate, call the service, answer. */
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { PageRequest } from '../../store/pagination.js';
import { validate, valid } from '../../transports/http/validate.js';
import { actorOf } from '../identity/http-auth.js';
import type { CommandRequest } from './commands.js';
import { requireDevice, sendsBasicCredentials, type DeviceAuthenticator } from './device-auth.js';
import type { EventPayload, Ingest } from './ingest.js';
import type { DeviceDoc, DeviceModels } from './models.js';
import type { ScheduleInput } from './schedule.js';
import type { DeviceCreate, DeviceService, DeviceUpdate } from './service.js';

type Id = { id: string };

export function registerDeviceRoutes(router: Router, requireUser: Middleware, service: DeviceService, deviceAuth: DeviceAuthenticator, ingest: Ingest, models: DeviceModels): void {
  const host = (ctx: { hostname: string }) => ctx.hostname;

  router.post('/devices', requireUser, validate({ body: 'http/device-create' }), async (ctx) => {
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await service.provision(actorOf(ctx), valid<DeviceCreate>(ctx.state, 'body'), host(ctx));
  });
  router.get('/devices', requireUser, validate({ query: 'http/devices-query' }), async (ctx) => {
    ctx.body = await service.list(actorOf(ctx), valid<PageRequest & { patientId?: string; online?: boolean }>(ctx.state, 'query'));
  });
  router.get('/devices/:id', requireUser, validate({ params: 'http/device-params' }), async (ctx) => {
    ctx.body = await service.get(actorOf(ctx), valid<Id>(ctx.state, 'params').id, host(ctx));
  });
  router.patch('/devices/:id', requireUser, validate({ params: 'http/device-params', body: 'http/device-update' }), async (ctx) => {
    ctx.body = await service.update(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<DeviceUpdate>(ctx.state, 'body'));
  });
  router.post('/devices/:id/rotate-secret', requireUser, validate({ params: 'http/device-params' }), async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await service.rotateSecret(actorOf(ctx), valid<Id>(ctx.state, 'params').id, host(ctx));
  });
  router.get('/devices/:id/events', requireUser, validate({ params: 'http/device-params', query: 'http/page-query' }), async (ctx) => {
    ctx.body = await service.events(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest>(ctx.state, 'query'));
  });
  router.get('/devices/:id/heartbeats', requireUser, validate({ params: 'http/device-params', query: 'http/heartbeats-query' }), async (ctx) => {
    ctx.body = await service.heartbeats(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<{ from?: string; to?: string; limit?: number }>(ctx.state, 'query'));
  });
  router.put('/devices/:id/schedule', requireUser, validate({ params: 'http/device-params', body: 'http/device-schedule' }), async (ctx) => {
    ctx.body = await service.putSchedule(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<ScheduleInput>(ctx.state, 'body'));
  });
  router.post('/devices/:id/commands', requireUser, validate({ params: 'http/device-params', body: 'http/device-command' }), async (ctx) => {
    ctx.status = 201;
    ctx.body = await service.command(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<CommandRequest>(ctx.state, 'body'));
  });
  router.get('/devices/:id/commands', requireUser, validate({ params: 'http/device-params', query: 'http/page-query' }), async (ctx) => {
    ctx.body = await service.listCommands(actorOf(ctx), valid<Id>(ctx.state, 'params').id, valid<PageRequest>(ctx.state, 'query'));
  });
  router.get('/devices/:id/commands/:commandId', requireUser, validate({ params: 'http/device-command-params' }), async (ctx) => {
    const { id, commandId } = valid<Id & { commandId: string }>(ctx.state, 'params');
    ctx.body = await service.getCommand(actorOf(ctx), id, commandId);
  });

  // The HTTP fallback for devices without MQTT: the same ingest, with device credentials (HTTP Basic).
  const asDevice = requireDevice(deviceAuth);
  router.post('/devices/:id/events', asDevice, validate({ params: 'http/device-params', body: 'mqtt/event' }), async (ctx) => {
    const stored = await ingest.event(valid<Id>(ctx.state, 'params').id, valid<EventPayload>(ctx.state, 'body'), 'http');
    ctx.status = stored ? 201 : 200;
    ctx.body = { stored, duplicate: !stored };
  });
  router.get('/devices/:id/schedule', async (ctx, next) => {
    // People read the desired/reported pair; a device polling over HTTP reads its schedule payload.
    if (sendsBasicCredentials(ctx.get('Authorization'))) {
      await asDevice(ctx, async () => {
        const device = await models.Device.findById((ctx.state.device as { deviceId: string }).deviceId, { schedule: 1 }).lean<DeviceDoc>();
        ctx.body = device?.schedule?.payload ?? null;
        if (!ctx.body) ctx.status = 204;
      });
      return;
    }
    await requireUser(ctx, async () => {
      await validate({ params: 'http/device-params' })(ctx, async () => {
        ctx.body = await service.getSchedule(actorOf(ctx), valid<Id>(ctx.state, 'params').id);
      });
    });
    void next;
  });
}
