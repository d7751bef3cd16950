/**
 * A command is carried out at most once, even by a device that dies while carrying it out: the
 * simulator saves an "interrupted" outcome before acting (commands.ts). The device's state file is
 * what survives a kill -9, so each test reads what had been saved at the moment that matters and
 * starts a new handler from it, as the restarted device does.
 */
import t from 'tap';
import { CommandHandler, INTERRUPTED, type CommandHost } from '../../firmware-sim/commands.js';
import type { DoseTracker } from '../../firmware-sim/doses.js';
import type { CommandAck } from '../../firmware-sim/payloads.js';

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
