/**
 * The order after CONNACK (docs/TOPICS.md, "Connecting"): subscribe; once the
 * SUBACK is in, the retained `online`, then a heartbeat, then the outbox.
 * Nothing goes out before `online`, not even the ack of a command or the
 * heartbeat that follows a schedule the broker kept for the device while it
 * was away; device.reboot comes after the first heartbeat.
 */
import t from 'tap';
import { createSimClock, MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { startBroker } from './helpers/broker.js';
import { until, waitForEvent } from './helpers/wait.js';

/** `status:online`, `heartbeat`, `events:device.reboot`, `acks:cmd-…`. */
const describe = (topic: string, body: Buffer): string => {
  const kind = topic.split('/')[3] as string;
  const payload = JSON.parse(body.toString()) as Record<string, unknown>;
  if (kind === 'status') return `status:${String(payload.state)}`;
  if (kind === 'events') return `events:${String(payload.type)}`;
  if (kind === 'acks') return `acks:${String(payload.commandId)}`;
  return kind;
};

t.test('online, then a heartbeat, then the outbox: on first boot and after a reconnect', async (t) => {
  // The order the broker receives them in. (Its `publish` event comes later for a retained
  // message, which is stored first, than for a heartbeat: it does not tell the wire order.)
  const received: string[] = [];
  const broker = await startBroker({
    aedes: {
      authorizePublish(_client, packet, callback) {
        received.push(describe(packet.topic, packet.payload as Buffer));
        callback(null);
      },
    },
  });
  t.teardown(() => broker.close());
  const id = 'dev-order';
  const from = Date.parse('2025-03-01T06:00:00Z');
  const schedule = (version: number) => buildDailySchedule({ version, from, doses: [{ time: '20:00', slot: 1, pills: 1 }] });
  await broker.publish(deviceTopic(id, 'schedule'), schedule(1), { retain: true });
  // 600×: a ten-minute outage is one real second.
  const clock = createSimClock({ startAt: from, speed: 600 });
  const device = new SimulatedDispenser({ id, url: broker.url, clock, heartbeatSeconds: 60 });
  t.teardown(() => device.stop());
  const published = (since: number) => received.slice(since);

  const first = waitForEvent(device, 'connected');
  await device.start();
  await first;
  await until(() => device.pendingEventIds().length === 0 && device.appliedScheduleVersion === 1, 5000, 'device.reboot delivered and the schedule applied');
  t.same(published(0).slice(0, 3), ['status:online', 'heartbeat', 'events:device.reboot'], 'first boot: online, heartbeat, then device.reboot from the outbox');

  // Away for ten simulated minutes; meanwhile the hub sends a command and a new schedule,
  // which the broker keeps in the device's persistent session.
  device.goOffline(10 * MINUTE);
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'status') && JSON.parse(m.payload).state === 'offline');
  const mark = received.length;
  const now = clock.now();
  await broker.publish(deviceTopic(id, 'commands'), {
    commandId: 'cmd-while-away',
    type: 'ring',
    params: { durationSeconds: 5 },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 60 * MINUTE).toISOString(),
  });
  await broker.publish(deviceTopic(id, 'schedule'), schedule(2), { retain: true });
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'acks') && JSON.parse(m.payload).commandId === 'cmd-while-away', 10_000);
  await until(() => device.appliedScheduleVersion === 2, 5000, 'the new schedule to be applied');

  const after = published(mark);
  t.equal(after[0], 'status:online', `nothing before online on the new connection: ${after.join(', ')}`);
  t.equal(after[1], 'heartbeat', 'then a heartbeat');
  t.ok(after.indexOf('acks:cmd-while-away') > 1, 'and the ack of the command kept in the session only after both');
});
