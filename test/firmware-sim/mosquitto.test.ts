/**
 * The simulator against a broker that is not Aedes: the local Mosquitto on
 * 127.0.0.1:1883 (anonymous access). Retained schedule, persistent-session
 * subscriptions, Last Will and a command round trip, observed by a second
 * client acting as the hub. Everything retained is removed afterwards.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import mqtt from 'mqtt';
import t from 'tap';
import { createSimClock, MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { checkTopicPayload } from './helpers/schemas.js';

const MOSQUITTO = 'mqtt://127.0.0.1:1883';

function mosquittoListening(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(1883, '127.0.0.1');
    socket.once('connect', () => resolve(socket.destroy() === socket));
    socket.once('error', () => resolve(false));
  });
}

const skip = (await mosquittoListening()) ? false : 'no Mosquitto on 127.0.0.1:1883';

t.test('a dispenser on Mosquitto', { skip }, async (t) => {
  const id = `mosq-${randomUUID().slice(0, 8)}`;
  const hub = await mqtt.connectAsync(MOSQUITTO, { protocolVersion: 4, clientId: `${id}-hub`, clean: true });
  t.teardown(async () => {
    // Leave the shared broker as we found it: no retained messages, no stored session.
    for (const name of ['schedule', 'status'] as const) await hub.publishAsync(deviceTopic(id, name), '', { qos: 1, retain: true });
    await hub.endAsync();
    const cleaner = await mqtt.connectAsync(MOSQUITTO, { protocolVersion: 4, clientId: id, clean: true });
    await cleaner.endAsync();
  });
  const seen: { topic: string; payload: string }[] = [];
  const waiters: (() => void)[] = [];
  hub.on('message', (topic, payload) => {
    seen.push({ topic, payload: payload.toString() });
    waiters.splice(0).forEach((wake) => wake());
  });
  const waitFor = async (what: string, match: (topic: string, body: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = seen.find((m) => m.payload && match(m.topic, JSON.parse(m.payload)));
      if (found) return JSON.parse(found.payload) as Record<string, unknown>;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  await hub.subscribeAsync(`v1/devices/${id}/+`, { qos: 1 });

  const clock = createSimClock({ speed: 60 });
  await hub.publishAsync(deviceTopic(id, 'schedule'), JSON.stringify(buildDailySchedule({ version: 2, from: clock.now(), doses: [{ time: '12:00', slot: 1, pills: 1 }] })), { qos: 1, retain: true });
  const device = new SimulatedDispenser({ id, url: MOSQUITTO, clock, heartbeatSeconds: 60, backoff: { initialMs: 100 } });
  t.teardown(() => device.stop());
  await device.start();

  await waitFor('the applied version in a heartbeat', (topic, body) => topic.endsWith('/heartbeat') && body.appliedScheduleVersion === 2);
  const online = await waitFor('online', (topic, body) => topic.endsWith('/status') && body.state === 'online');

  device.goOffline(MINUTE); // one real second at 60×
  const will = await waitFor('the Last Will', (topic, body) => topic.endsWith('/status') && body.state === 'offline');
  t.match(will, { state: 'offline', reason: 'connection_lost', connectionId: online.connectionId }, 'Mosquitto published the Will of that connection');

  const now = new Date(clock.now());
  const expiresAt = new Date(clock.now() + 30 * MINUTE).toISOString();
  // Published while the device is away: its persistent session keeps it.
  await hub.publishAsync(deviceTopic(id, 'commands'), JSON.stringify({ commandId: 'cmd-mosquitto-1', type: 'locate', params: { durationSeconds: 3 }, issuedAt: now.toISOString(), expiresAt }), { qos: 1 });
  const ack = await waitFor('the ack', (topic) => topic.endsWith('/acks'));
  t.match(ack, { commandId: 'cmd-mosquitto-1', status: 'succeeded' });

  await device.stop();
  await waitFor('the goodbye', (topic, body) => topic.endsWith('/status') && body.reason === 'shutdown');
  for (const message of seen.filter((m) => m.payload && !m.topic.endsWith('/schedule') && !m.topic.endsWith('/commands'))) {
    const { ok, errors } = checkTopicPayload(message.topic, message.payload);
    if (!ok) t.fail(`${message.topic}: ${JSON.stringify(errors)}`);
  }
  t.pass(`${seen.length} messages seen through Mosquitto validate`);
});
