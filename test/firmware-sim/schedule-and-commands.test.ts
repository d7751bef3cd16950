/**
 * The hub → device direction: the retained schedule is applied once per newer
 * version and reported in heartbeats; commands are answered on `acks`, at most
 * once per commandId, with `expired` when they arrive too late — including a
 * command the broker kept in the device's persistent session while it was away.
 */
import t, { type Test } from 'tap';
import { createSimClock, MINUTE } from '../../firmware-sim/clock.js';
import { buildDailySchedule } from '../../firmware-sim/demo-schedule.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { payloadsOn, startBroker, type TestBroker } from './helpers/broker.js';
import { until, waitForEvent } from './helpers/wait.js';

type Payload = Record<string, unknown>;

async function startDevice(t: Test, broker: TestBroker, id: string, speed = 60) {
  const clock = createSimClock({ startAt: Date.parse('2025-03-01T06:00:00Z'), speed });
  const device = new SimulatedDispenser({ id, url: broker.url, clock, heartbeatSeconds: 0.1, slots: { count: 2, pillsPerSlot: 3 } });
  t.teardown(() => device.stop());
  const connected = waitForEvent(device, 'connected');
  await device.start();
  await connected;
  return { device, clock };
}

const schedule = (version: number, from: number) =>
  buildDailySchedule({ version, from, doses: [{ time: '20:00', slot: 1, pills: 1 }] });

t.test('the retained schedule is applied and its version reported; older or empty ones are ignored', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-schedule';
  const from = Date.parse('2025-03-01T06:00:00Z');
  await broker.publish(deviceTopic(id, 'schedule'), schedule(5, from), { retain: true });

  const appliedVersions: number[] = [];
  const clock = createSimClock({ startAt: from, speed: 60 });
  const device = new SimulatedDispenser({ id, url: broker.url, clock, heartbeatSeconds: 60 });
  device.on('schedule-applied', (version) => appliedVersions.push(version));
  t.teardown(() => device.stop());
  await device.start();

  const beat = await broker.waitFor((m) => m.topic === deviceTopic(id, 'heartbeat') && JSON.parse(m.payload).appliedScheduleVersion === 5);
  t.ok(beat, 'a heartbeat reports version 5 right after applying it, without waiting for the 60 s beat');

  await broker.publish(deviceTopic(id, 'schedule'), schedule(4, from), { retain: true });
  await broker.publish(deviceTopic(id, 'schedule'), '', { retain: true });
  await broker.publish(deviceTopic(id, 'schedule'), '{"version": "six"}', { retain: true });
  const applied = waitForEvent<[number]>(device, 'schedule-applied');
  await broker.publish(deviceTopic(id, 'schedule'), schedule(6, from), { retain: true });
  t.same(await applied, [6]);
  t.same(appliedVersions, [5, 6], 'version 4, an empty payload and an unreadable one changed nothing');
  t.equal(device.appliedScheduleVersion, 6);
  await broker.waitFor((m) => m.topic === deviceTopic(id, 'heartbeat') && JSON.parse(m.payload).appliedScheduleVersion === 6);
});

t.test('commands are acked once per commandId with the right outcome', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-commands';
  const { device, clock } = await startDevice(t, broker, id);
  const issuedAt = new Date(clock.now()).toISOString();
  const expiresAt = new Date(clock.now() + 30 * MINUTE).toISOString();
  const send = (command: Payload) => broker.publish(deviceTopic(id, 'commands'), command);
  const acks = () => payloadsOn(broker, 'acks', id);
  const ackOf = (commandId: string) => acks().filter((ack) => ack.commandId === commandId);

  const dispense = { commandId: 'cmd-dispense-twice', type: 'dispense_now', params: { slot: 1, pills: 2 }, issuedAt, expiresAt };
  await send(dispense);
  await send(dispense); // a QoS 1 redelivery
  await send({ commandId: 'cmd-too-many-pills', type: 'dispense_now', params: { slot: 1, pills: 2 }, issuedAt, expiresAt });
  await send({ commandId: 'cmd-no-such-slot', type: 'dispense_now', params: { slot: 9, pills: 1 }, issuedAt, expiresAt });
  await send({ commandId: 'cmd-bad-params-1', type: 'ring', params: { durationSeconds: 'long' }, issuedAt, expiresAt });
  await send({ commandId: 'cmd-long-expired', type: 'locate', params: { durationSeconds: 5 }, issuedAt, expiresAt: '2025-03-01T05:00:00Z' });
  await send({ type: 'ring', params: { durationSeconds: 5 } }); // no commandId: nothing to answer
  await until(() => new Set(acks().map((ack) => ack.commandId)).size === 5, 5000, 'five distinct acks');

  const twice = ackOf('cmd-dispense-twice');
  t.ok(twice.length >= 1, 'the repeated command is acked');
  t.same(new Set(twice.map((ack) => JSON.stringify(ack))).size, 1, 'with the very same outcome every time');
  t.match(twice[0], { status: 'succeeded' });
  const dispensed = payloadsOn(broker, 'events', id).filter((event) => event.type === 'dose.dispensed' && event.commandId === 'cmd-dispense-twice');
  t.equal(dispensed.length, 1, 'but carried out once');
  t.match(ackOf('cmd-too-many-pills')[0], { status: 'failed', error: { code: 'slot_empty' } }, 'slot 1 had 3 pills, 1 left');
  t.match(ackOf('cmd-no-such-slot')[0], { status: 'rejected', error: { code: 'invalid_slot' } });
  t.match(ackOf('cmd-bad-params-1')[0], { status: 'rejected', error: { code: 'invalid_params' } });
  t.match(ackOf('cmd-long-expired')[0], { status: 'expired' });
  t.equal(device.stats().acksDelivered >= 5, true, 'the acks were PUBACKed');
});

t.test('a command queued in the persistent session while offline is acked expired on return', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-away';
  const { device, clock } = await startDevice(t, broker, id, 600);
  const gone = broker.waitFor((m) => m.topic === deviceTopic(id, 'status') && JSON.parse(m.payload).state === 'offline');
  device.goOffline(10 * MINUTE); // one real second at 600×
  await gone;
  const now = clock.now();
  const command = (commandId: string, expiresInMinutes: number) => ({
    commandId,
    type: 'ring',
    params: { durationSeconds: 5 },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + expiresInMinutes * MINUTE).toISOString(),
  });
  await broker.publish(deviceTopic(id, 'commands'), command('cmd-short-lived', 1));
  await broker.publish(deviceTopic(id, 'commands'), command('cmd-long-lived', 60));
  await until(() => payloadsOn(broker, 'acks', id).length === 2, 10_000, 'both queued commands to be answered');
  const acks = Object.fromEntries(payloadsOn(broker, 'acks', id).map((ack) => [ack.commandId, ack.status]));
  t.same(acks, { 'cmd-short-lived': 'expired', 'cmd-long-lived': 'succeeded' });
});

t.test('a republished schedule does not dispense a dose twice', async (t) => {
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const id = 'dev-republish';
  const from = Date.parse('2025-03-01T07:59:00Z');
  const clock = createSimClock({ startAt: from, speed: 600 });
  const window = { earlyMinutes: 0, lateAfterMinutes: 2, missedAfterMinutes: 5 };
  const publish = (version: number) =>
    broker.publish(deviceTopic(id, 'schedule'), buildDailySchedule({ version, from, window, doses: [{ time: '08:00', slot: 1, pills: 1 }] }), { retain: true });
  await publish(1);
  const device = new SimulatedDispenser({ id, url: broker.url, clock, heartbeatSeconds: 60 });
  t.teardown(() => device.stop());
  await device.start();
  const events = () => payloadsOn(broker, 'events', id);
  await until(() => events().some((event) => event.type === 'dose.dispensed'), 5000, 'the 08:00 dose to be dispensed');
  const applied = waitForEvent(device, 'schedule-applied');
  await publish(2); // the same dose, a new version: as the hub's daily republish does
  await applied;
  await until(() => events().some((event) => event.type === 'dose.taken' || event.type === 'dose.missed'), 5000, 'the dose to end');
  t.equal(events().filter((event) => event.type === 'dose.dispensed').length, 1, 'dispensed once');
  t.equal(events().filter((event) => event.type === 'dose.taken' || event.type === 'dose.missed').length, 1, 'ended once');
  t.equal(device.appliedScheduleVersion, 2);
});
