/**
 * A command is carried out at most once, even by a device that dies while carrying it out: the
 * simulator saves an "interrupted" outcome before acting (commands.ts). The device's state file is
 * what survives a kill -9, so each test reads what had been saved at the moment that matters and
 * starts a new handler from it, as the restarted device does.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CommandHandler, INTERRUPTED, type CommandHost } from '../../firmware-sim/commands.js';
import { stateFileFor } from '../../firmware-sim/device-state.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';
import type { DoseTracker } from '../../firmware-sim/doses.js';
import type { CommandAck, DeviceEvent } from '../../firmware-sim/payloads.js';
import { deviceTopic } from '../../firmware-sim/topics.js';
import { startBroker } from './helpers/broker.js';
import { manualClock } from './helpers/clock.js';
import { waitForEvent } from './helpers/wait.js';

const NOW = Date.parse('2025-03-01T07:00:00Z');
const dispense = { commandId: 'cmd-once', type: 'dispense_now', params: { slot: 1, pills: 1 }, issuedAt: '2025-03-01T06:59:00Z', expiresAt: '2025-03-01T08:00:00Z' };

interface Device {
  handler: CommandHandler;
  /** What each save wrote (the outcomes remembered), in order. */
  saves: CommandAck[][];
  /** How often the pills moved, and what had been saved the last time they did. */
  dispensed: { count: number; saved?: CommandAck[] };
}

/** A device restarted from `saved`, whose saves run `save` (by default they succeed at once). */
function device(saved: CommandAck[] = [], save: () => Promise<void> = async () => undefined): Device {
  const saves: CommandAck[][] = [];
  const dispensed: Device['dispensed'] = { count: 0 };
  const doses = {
    dispenseOnCommand: () => {
      dispensed.count += 1;
      dispensed.saved = saves.at(-1);
      return { status: 'succeeded' as const };
    },
  } as unknown as DoseTracker;
  const host: CommandHost = {
    deviceNow: () => NOW,
    doses,
    setClock: () => undefined,
    signal: () => undefined,
    reboot: () => undefined,
    canAct: () => true,
    changed: async () => {
      await save();
      saves.push(handler.remembered());
    },
  };
  const handler = new CommandHandler(host);
  handler.restore(saved);
  return { handler, saves, dispensed };
}

t.test('a dispense_now is saved as interrupted before the pills move; a device that died then does not dispense it again', async (t) => {
  const first = device();
  t.match(await first.handler.handle(dispense), { ack: { commandId: 'cmd-once', status: 'succeeded' }, repeated: false });
  t.equal(first.dispensed.count, 1);
  t.same(first.dispensed.saved, [{ commandId: 'cmd-once', status: 'failed', at: new Date(NOW).toISOString(), error: INTERRUPTED }], 'saved before the pills moved');

  // Killed as the pills moved: restarted from what was saved then, and the hub delivers the command again.
  const restarted = device(first.dispensed.saved);
  t.match(await restarted.handler.handle(dispense), { ack: { status: 'failed', error: INTERRUPTED }, repeated: true }, 'answered with the outcome saved ahead');
  t.equal(restarted.dispensed.count, 0, 'not dispensed a second time');

  // Killed after the real outcome was saved: the redelivery gets that outcome.
  const later = device(first.saves.at(-1));
  t.match(await later.handler.handle(dispense), { ack: { status: 'succeeded' }, repeated: true });
  t.equal(later.dispensed.count, 0);
});

t.test('a duplicate that arrives while the command is carried out gets its real outcome, not the one saved ahead', async (t) => {
  let releaseSave = (): void => undefined;
  const slowFirstSave = new Promise<void>((resolve) => (releaseSave = resolve));
  let savesStarted = 0;
  const d = device([], () => (++savesStarted === 1 ? slowFirstSave : Promise.resolve()));
  const original = d.handler.handle(dispense);
  const duplicate = d.handler.handle(dispense);
  releaseSave();
  const [first, second] = await Promise.all([original, duplicate]);
  t.match(first, { ack: { status: 'succeeded' }, repeated: false });
  t.match(second, { ack: { status: 'succeeded' }, repeated: true });
  t.same(second?.ack, first?.ack, 'the very same outcome');
  t.equal(d.dispensed.count, 1, 'dispensed once');
});

t.test('a command whose note cannot be saved is not carried out, nor acked; its redelivery is', async (t) => {
  let failNext = true;
  const d = device([], async () => {
    if (failNext) {
      failNext = false;
      throw new Error('disk full');
    }
  });
  await t.rejects(d.handler.handle(dispense), /disk full/);
  t.equal(d.dispensed.count, 0, 'nothing dispensed');
  t.same(d.handler.remembered(), [], 'and nothing remembered that would answer its redelivery');
  t.match(await d.handler.handle(dispense), { ack: { status: 'succeeded' }, repeated: false }, 'the redelivery is carried out');
  t.equal(d.dispensed.count, 1);
});

/** A connected dispenser with an outbox and a state file, on a bare broker. */
async function connectedDispenser(t: Test, id: string) {
  const dir = await mkdtemp(join(tmpdir(), 'medhub-sim-write-ahead-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const broker = await startBroker();
  t.teardown(() => broker.close());
  const clock = manualClock('2025-03-01T07:00:00Z');
  const outboxFile = join(dir, `${id}.json`);
  const device = new SimulatedDispenser({ id, url: broker.url, clock, heartbeatSeconds: 60, slots: { count: 2, pillsPerSlot: 10 }, outbox: { file: outboxFile } });
  t.teardown(() => device.stop());
  const connected = waitForEvent(device, 'connected');
  await device.start();
  await connected;
  return { broker, device, stateFile: stateFileFor(outboxFile) };
}

t.test('a real dispenser: its state file holds the note before the pills move, and the outcome once acked', async (t) => {
  const { broker, device, stateFile } = await connectedDispenser(t, 'dev-write-ahead');
  const commandsOnDisk = (): CommandAck[] => (JSON.parse(readFileSync(stateFile, 'utf8')) as { commands: CommandAck[] }).commands;
  let onDiskAsItDispensed: CommandAck[] | undefined;
  device.on('queued', (event: DeviceEvent) => {
    if (event.type === 'dose.dispensed') onDiskAsItDispensed = commandsOnDisk();
  });
  await broker.publish(deviceTopic('dev-write-ahead', 'commands'), dispense);
  const ack = await broker.waitFor((message) => message.topic === deviceTopic('dev-write-ahead', 'acks'));
  t.match(JSON.parse(ack.payload), { commandId: 'cmd-once', status: 'succeeded' });
  t.match(onDiskAsItDispensed, [{ commandId: 'cmd-once', status: 'failed', error: INTERRUPTED }], 'on disk before the pills moved: a restart then would not dispense again');
  t.match(commandsOnDisk(), [{ commandId: 'cmd-once', status: 'succeeded' }], 'the outcome on disk before the ack went out');
});

t.test('a reboot command is acked before the device goes', async (t) => {
  const { broker, device } = await connectedDispenser(t, 'dev-reboot');
  const reboot = { commandId: 'cmd-reboot', type: 'reboot', params: { delaySeconds: 0 }, issuedAt: '2025-03-01T06:59:00Z', expiresAt: '2025-03-01T08:00:00Z' };
  const back = waitForEvent(device, 'connected');
  await broker.publish(deviceTopic('dev-reboot', 'commands'), reboot);
  await back;
  const order = broker.captured
    .filter((message) => message.topic === deviceTopic('dev-reboot', 'acks') || (message.topic === deviceTopic('dev-reboot', 'status') && (JSON.parse(message.payload) as { reason?: string }).reason === 'reboot'))
    .map((message) => (message.topic.endsWith('/acks') ? 'ack' : 'offline (reboot)'));
  t.same(order.slice(0, 2), ['ack', 'offline (reboot)'], 'the ack first, then the goodbye');
});
