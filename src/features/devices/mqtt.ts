/**
 * The devices feature on the broker: who may connect (id + secret), and one
 * handler per device → hub topic. Payloads arrive parsed and validated
 * against schemas/mqtt by the topic router; each handler resolves once the
 * data is stored, so the PUBACK means "stored".
 */
import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible';
import { AppError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { MqttTransport } from '../../transports/mqtt/broker.js';
import type { Commands } from './commands.js';
import type { DeviceAuthenticator } from './device-auth.js';
import type { AckPayload, EventPayload, HeartbeatPayload, Ingest, StatusPayload } from './ingest.js';
import type { Presence } from './presence.js';
import type { Schedules } from './schedule.js';

/** Per-device message budget, shared by every device → hub topic: generous enough for an outbox flush after an offline spell. */
const MESSAGES_PER_SECOND = 200;
/**
 * QoS 1 messages of one device waiting for its budget: MQTT 3.1.1 does not bound a client's
 * messages in flight, and an outbox flushed after an offline spell sends them all at once.
 */
const MAX_WAITING_PER_DEVICE = 500;

export interface DeviceMqttParts {
  authenticate: DeviceAuthenticator;
  ingest: Ingest;
  presence: Presence;
  commands: Commands;
  schedules: Schedules;
}

export function registerDeviceMqtt(mqtt: MqttTransport, { authenticate, ingest, presence, commands, schedules }: DeviceMqttParts, logger: Logger): { stop(): void } {
  const budget = new RateLimiterMemory({ keyPrefix: 'device-msgs', points: MESSAGES_PER_SECOND, duration: 1 });
  let stopped = false;

  mqtt.setAuthenticator(async ({ clientId, password, remoteAddress }) => {
    const principal = await authenticate(clientId, password?.toString('utf8'), remoteAddress);
    // Before the CONNACK, so that the SUBSCRIBE which follows finds the newest schedule retained here.
    await schedules.retainNewest(principal.deviceId, principal.scheduleVersion).catch((error: unknown) => {
      logger.warn({ err: error, deviceId: principal.deviceId }, 'could not bring the retained schedule up to date; the device gets what this instance retains');
    });
    return principal;
  });

  const waiting = new RateLimiterQueue(budget, { maxQueueSize: MAX_WAITING_PER_DEVICE });
  /**
   * A QoS 0 message past the budget is dropped (told on `errors`, as rate_limited). A QoS 1 message
   * waits for the budget instead: refusing it would acknowledge a message the hub dropped, and
   * the device would not send it again. Should too many wait, the message is not acknowledged and
   * the device is disconnected: it resends what was not acknowledged when it comes back.
   */
  const withinBudget = async (deviceId: string, qos: number): Promise<void> => {
    if (qos > 0) {
      await waiting.removeTokens(1, deviceId).catch(() => {
        throw new AppError('unavailable', `Too many messages waiting for the budget of ${MESSAGES_PER_SECOND} per second`);
      });
      return;
    }
    try {
      await budget.consume(deviceId);
    } catch {
      throw new AppError('rate_limited', `More than ${MESSAGES_PER_SECOND} messages per second; this one was dropped`);
    }
  };

  mqtt.router.add<HeartbeatPayload>({
    pattern: 'v1/devices/:deviceId/heartbeat',
    schema: 'mqtt/heartbeat',
    async handle({ principal, payload, qos, settle }) {
      await withinBudget(principal.deviceId, qos);
      const written = ingest.heartbeat(principal.deviceId, payload);
      // QoS 0 (as devices send them): nothing waits for the write, and the device's next heartbeat
      // may take this one's place in the queue, so the broker moves on. A PUBACK still means stored.
      if (qos === 0) settle(written);
      else await written;
    },
  });
  mqtt.router.add<EventPayload>({
    pattern: 'v1/devices/:deviceId/events',
    schema: 'mqtt/event',
    async handle({ principal, payload, qos }) {
      await withinBudget(principal.deviceId, qos);
      await ingest.event(principal.deviceId, payload, 'mqtt');
    },
  });
  mqtt.router.add<StatusPayload>({
    pattern: 'v1/devices/:deviceId/status',
    schema: 'mqtt/status',
    async handle({ principal, payload, qos }) {
      await withinBudget(principal.deviceId, qos);
      await ingest.status(principal.deviceId, payload);
    },
  });
  mqtt.router.add<AckPayload>({
    pattern: 'v1/devices/:deviceId/acks',
    schema: 'mqtt/ack',
    async handle({ principal, payload, qos }) {
      await withinBudget(principal.deviceId, qos);
      await ingest.ack(principal.deviceId, payload);
    },
  });

  mqtt.onPresence((principal, online) => {
    if (stopped) return;
    if (!online) ingest.disconnected(principal.deviceId);
    const work = online
      ? presence.online(principal.deviceId).then(() => commands.resendPending(principal.deviceId))
      : presence.offline(principal.deviceId, 'disconnected');
    work.catch((error: unknown) => logger.warn({ err: error, deviceId: principal.deviceId }, 'presence update failed'));
  });

  return {
    stop() {
      stopped = true;
    },
  };
}
