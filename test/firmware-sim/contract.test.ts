/**
 * Everything the simulator puts on the wire validates against schemas/mqtt,
 * with the QoS and retain flags of docs/TOPICS.md. One device is driven through
 * every event type, every command type and every ack and status outcome,
 * against a real broker, and each captured message is validated.
 */
import t from 'tap';
import { createSimClock, MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import type { Scenario } from '../../firmware-sim/scenarios.js';
import { deviceTopic, topicContract, topicNameOf } from '../../firmware-sim/topics.js';
import { payloadsOn, startBroker } from './helpers/broker.js';
import { checkTopicPayload } from './helpers/schemas.js';
import { until, waitForEvent } from './helpers/wait.js';

type Payload = Record<string, unknown>;

/** Each slot plays one fate, so one schedule produces every dose event. */
const fateBySlot: Scenario = {
  name: 'adherent',
  planDose(item) {
    switch (item.slot) {
      case 2:
        return { outcome: { kind: 'ignore' } };
      case 3:
        return { outcome: { kind: 'jam' } };
      case 4:
        return { outcome: { kind: 'skip', afterMs: MINUTE } };
      default:
        return { outcome: { kind: 'take', afterMs: MINUTE } };
    }
  },
};

t.test('every published payload matches its schema and topic contract', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-contract';
  // 600× : ten simulated minutes per real second.
  const clock = createSimClock({ startAt: Date.parse('2025-03-01T07:58:00Z'), speed: 600 });
  const window = { earlyMinutes: 30, lateAfterMinutes: 2, missedAfterMinutes: 5 };
  const soon = (time: string, slot: number) => ({ time, slot, pills: slot === 1 ? 2 : 1 });
  const schedule = buildDailySchedule({
    version: 3,
    from: clock.now(),
    hours: 48,
    window,
    doses: [soon('08:00', 1), soon('08:00', 2), soon('08:00', 3), soon('08:00', 4), soon('08:20', 5)],
  });
  await broker.publish(deviceTopic(id, 'schedule'), schedule, { retain: true });

  const device = new SimulatedDispenser({
    id,
    secret: 's3cret',
    url: broker.url,
    clock,
    scenario: fateBySlot,
    slots: { count: 6, pillsPerSlot: 6, refillThreshold: 4 },
    heartbeatSeconds: 0.2,
  });
  t.teardown(() => device.stop());
  const applied = waitForEvent(device, 'schedule-applied');
  await device.start();
  await applied;

  t.ok(device.pressDispense(), 'the 08:20 dose can be taken early from its 30-minute window');
  device.pressHelp();
  device.tamper('lid_open');
  const events = () => payloadsOn(broker, 'events', id);
  const seen = (type: string, extra: (event: Payload) => boolean = () => true) => events().some((event) => event.type === type && extra(event));
  await until(() => seen('dose.taken', (e) => e.slot === 1) && seen('dose.missed', (e) => e.slot === 2) && seen('dose.missed', (e) => e.slot === 3) && seen('dose.skipped'), 10_000, 'the scheduled doses to play out');

  const issuedAt = new Date(clock.now()).toISOString();
  const expiresAt = new Date(clock.now() + 60 * MINUTE).toISOString();
  const commands: Payload[] = [
    { commandId: 'cmd-dispense-ok', type: 'dispense_now', params: { slot: 6, pills: 1, occurrenceId: 'occ_late_1' }, issuedAt, expiresAt },
    { commandId: 'cmd-dispense-empty', type: 'dispense_now', params: { slot: 6, pills: 20 }, issuedAt, expiresAt },
    { commandId: 'cmd-ring-0001', type: 'ring', params: { durationSeconds: 10 }, issuedAt, expiresAt },
    { commandId: 'cmd-locate-01', type: 'locate', params: { durationSeconds: 10 }, issuedAt, expiresAt },
    { commandId: 'cmd-sync-0001', type: 'sync_time', params: { serverTime: issuedAt }, issuedAt, expiresAt },
    { commandId: 'cmd-expired-1', type: 'ring', params: { durationSeconds: 10 }, issuedAt, expiresAt: '2025-03-01T07:00:00Z' },
    { commandId: 'cmd-unknown-1', type: 'self_destruct', params: {}, issuedAt, expiresAt },
  ];
  for (const command of commands) await broker.publish(deviceTopic(id, 'commands'), command);
  const acks = () => payloadsOn(broker, 'acks', id);
  await until(() => acks().length === commands.length, 10_000, 'an ack for every command');
  await until(() => seen('dose.taken', (e) => e.commandId === 'cmd-dispense-ok'), 10_000, 'the commanded dose to be taken');

  // Network loss: the broker publishes the Last Will, then the device comes back.
  const back = waitForEvent(device, 'connected');
  device.goOffline(2 * MINUTE);
  await back;
  // Reboot on command: goodbye, new boot, device.reboot with reason "command".
  await broker.publish(deviceTopic(id, 'commands'), { commandId: 'cmd-reboot-01', type: 'reboot', params: {}, issuedAt, expiresAt });
  await until(() => seen('device.reboot', (e) => e.reason === 'command'), 10_000, 'the reboot to be announced');
  await device.stop();

  t.test('each message validates and uses its topic’s QoS and retain flag', async (t) => {
    const mine = broker.captured.filter((message) => message.topic.startsWith(`v1/devices/${id}/`) && !message.topic.endsWith('/schedule') && !message.topic.endsWith('/commands'));
    t.ok(mine.length > 20, `${mine.length} messages captured`);
    for (const message of mine) {
      const { ok, errors } = checkTopicPayload(message.topic, message.payload);
      if (!ok) t.fail(`${message.topic} ${message.payload}: ${JSON.stringify(errors)}`);
      const contract = topicContract(topicNameOf(message.topic) as 'events');
      if (message.qos !== contract.qos || message.retain !== contract.retained) t.fail(`${message.topic} sent with qos ${message.qos} retain ${message.retain}`);
    }
    t.pass('all validated');
  });

  t.test('every event type, ack status and status state was exercised', async (t) => {
    const types = new Set(events().map((event) => event.type));
    t.same([...types].sort(), ['device.jam', 'device.reboot', 'device.tamper', 'dose.dispensed', 'dose.missed', 'dose.skipped', 'dose.taken', 'help.requested', 'refill.low'].sort());
    t.same(new Set(events().filter((e) => e.type === 'dose.dispensed').map((e) => e.trigger)), new Set(['schedule', 'button', 'command']));
    t.same(new Set(events().filter((e) => e.type === 'dose.missed').map((e) => e.reason)), new Set(['not_taken', 'dispense_failed']));
    const statusById = Object.fromEntries(acks().map((ack) => [ack.commandId, ack.status]));
    t.match(statusById, {
      'cmd-dispense-ok': 'succeeded',
      'cmd-dispense-empty': 'failed',
      'cmd-expired-1': 'expired',
      'cmd-unknown-1': 'rejected',
      'cmd-reboot-01': 'succeeded',
    });
    const states = payloadsOn(broker, 'status', id).map((status) => `${status.state}:${status.reason ?? ''}`);
    t.same(new Set(states), new Set(['online:', 'offline:connection_lost', 'offline:reboot', 'offline:shutdown']));
    t.ok(payloadsOn(broker, 'heartbeat', id).some((beat) => beat.appliedScheduleVersion === 3), 'heartbeats report the applied version');
  });
});
