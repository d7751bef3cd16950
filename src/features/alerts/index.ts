/**
 * Alerts: raised by other features through the AlertsApi contract (doses) or
 * from device news (jam, tamper, help, refill, battery, offline), escalated
 * tier by tier until someone acknowledges, and delivered through the
 * Notifier adapters (Socket.IO, signed webhooks, an HTTP SMS/voice gateway),
 * every attempt recorded; deliveries a stopped process left unfinished are
 * resumed by a job (resume.ts).
 */
import { createDestinationGuard, createHttpGatewayNotifier, createSocketNotifier, createWebhookNotifier } from '../../ports/adapters/notifiers/index.js';
import type { HubContext } from '../context.js';
import type { Devices } from '../devices/index.js';
import type { Identity } from '../identity/index.js';
import type { AlertsApi } from './contract.js';
import { createDelivery, OUTSIDE_REQUEST_TIMEOUT_MS } from './delivery.js';
import { registerDeviceAlerts } from './device-alerts.js';
import { alertModels } from './models.js';
import { createDeliveryResumer } from './resume.js';
import { registerAlertRoutes } from './routes.js';
import { createAlertService } from './service.js';
import { registerAlertSockets } from './sockets.js';

export async function registerAlerts(ctx: HubContext, { identity, devices }: { identity: Identity; devices: Devices }) {
  const models = alertModels(ctx.store.connection);
  await Promise.all(Object.values(models).map((model) => model.init()));
  const log = ctx.logger.child({ feature: 'alerts' });
  // One judge of where outside channels may connect, for sending and for writing policies.
  const destinations = createDestinationGuard(ctx.config.notify.allowedPrivateNetworks);
  // Outside channels cut each attempt off after OUTSIDE_REQUEST_TIMEOUT_MS, which resume.ts counts on.
  const notifiers = [
    createSocketNotifier(ctx.sockets),
    createWebhookNotifier(ctx.clock, destinations, OUTSIDE_REQUEST_TIMEOUT_MS),
    createHttpGatewayNotifier('sms', ctx.clock, destinations, OUTSIDE_REQUEST_TIMEOUT_MS),
    createHttpGatewayNotifier('voice', ctx.clock, destinations, OUTSIDE_REQUEST_TIMEOUT_MS),
  ];
  const delivery = createDelivery(models, notifiers, ctx.clock, log);
  const resumer = createDeliveryResumer({ models, identity: identity.models, delivery, clock: ctx.clock, logger: log });
  const service = createAlertService({ models, identity, sockets: ctx.sockets, delivery, destinations, clock: ctx.clock, logger: log });
  const api: AlertsApi = { raise: service.raise, raiseMany: service.raiseMany, resolveCause: service.resolveCause, resolveCauses: service.resolveCauses };

  const deviceAlerts = registerDeviceAlerts(devices, api, models.Alert, ctx.clock, log, { offlineAlertMs: ctx.config.devices.offlineAlertSeconds * 1000 });
  ctx.onClose(() => deviceAlerts.stop());
  registerAlertRoutes(ctx.http.api, identity.requireUser, service);
  registerAlertSockets(ctx.sockets, service);
  ctx.jobs.add('alerts.escalate', '* * * * *', () => service.escalate());
  // Deliveries a stopped process left pending (resume.ts): claimed, so safe on several instances at once.
  ctx.jobs.add('alerts.resume-deliveries', '* * * * *', () => resumer.resumeInterrupted());
  // Dispensers offline without their device.offline alert (its raise failed): raised late rather than never.
  ctx.jobs.add('alerts.offline-reconcile', '* * * * *', () => deviceAlerts.reconcileOffline());
  // Attempts in flight finish (2 s at most) before the store closes; retries not yet due stay pending, for resume.
  ctx.onClose(() => delivery.stop(2000));

  return { ...api, models, service, delivery, resumer, deviceAlerts };
}

export type Alerts = Awaited<ReturnType<typeof registerAlerts>>;
