/**
 * POST /devices/{id}/commands: the command as it will be published must fit the
 * device contract (schemas/mqtt/command.json), whose params differ per type. A
 * command that does not fit is refused before it is stored, so it is never
 * published, resent on reconnect, or rejected by the device.
 */
import t from 'tap';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { careScenario } from '../helpers/factories.js';
import { connectDevice, eventually, inbox, provisionDevice, topic } from '../helpers/devices.js';
import { createSimClock } from '../../firmware-sim/clock.js';
import { SimulatedDispenser } from '../../firmware-sim/dispenser.js';

type Body = Record<string, unknown>;

/** Bodies that are well-formed HTTP requests but not valid commands, with the paths the problem must name. */
const refused: Array<[string, Body, string[]]> = [
  ['dispense_now without params', { type: 'dispense_now' }, ['/params/slot', '/params/pills']],
  ['dispense_now without pills', { type: 'dispense_now', params: { slot: 1 } }, ['/params/pills']],
  ['dispense_now from slot 0', { type: 'dispense_now', params: { slot: 0, pills: 1 } }, ['/params/slot']],
  ['dispense_now with an unknown field', { type: 'dispense_now', params: { slot: 1, pills: 1, colour: 'red' } }, ['/params/colour']],
  ['ring with another command’s params', { type: 'ring', params: { seconds: 10 } }, ['/params/durationSeconds', '/params/seconds']],
  ['ring for longer than 300 s', { type: 'ring', params: { durationSeconds: 301 } }, ['/params/durationSeconds']],
  ['ring with a text duration', { type: 'ring', params: { durationSeconds: '10' } }, ['/params/durationSeconds']],
  ['locate without params', { type: 'locate' }, ['/params/durationSeconds']],
  ['sync_time with empty params', { type: 'sync_time', params: {} }, ['/params/serverTime']],
  ['sync_time with a local time', { type: 'sync_time', params: { serverTime: '2025-03-01T09:00:00+01:00' } }, ['/params/serverTime']],
  ['reboot with a negative delay', { type: 'reboot', params: { delaySeconds: -1 } }, ['/params/delaySeconds']],
  ['reboot with an unknown field', { type: 'reboot', params: { force: true } }, ['/params/force']],
];

t.test('a command whose params do not fit its type is refused with 400; nothing is stored or published', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device);
  const commands = await inbox(client, topic(device.id, 'commands'));
  const post = (body: Body) => request(hub, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body: { ttlSeconds: 600, ...body } });

  for (const [name, body, paths] of refused) {
    const answer = await post(body);
    t.equal(answer.status, 400, `${name}: 400`);
    t.match(answer.headers.get('content-type'), /^application\/problem\+json/, `${name}: a problem document`);
    t.equal(answer.body.code, 'validation_failed', name);
    const named = (answer.body.errors as Array<{ path: string }> | undefined)?.map((error) => error.path) ?? [];
    t.same([...new Set(named)].sort(), [...paths].sort(), `${name}: the errors point at ${paths.join(', ')}`);
  }

  // QoS 1 from the hub to one subscriber keeps order: had any refused command been published, it would arrive first.
  const valid = await post({ type: 'ring', params: { durationSeconds: 5 } });
  t.equal(valid.status, 201, JSON.stringify(valid.body));
  t.match((await commands()).payload, { commandId: valid.body.commandId, type: 'ring', params: { durationSeconds: 5 } }, 'the first command the device receives is the valid one');

  const listed = await request(hub, 'GET', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token });
  t.same(listed.body.items.map((c: Body) => c.commandId), [valid.body.commandId], 'only the valid command is stored');
  t.equal(await hub.features.devices.commands.resendPending(device.id), 1, 'and only it would be resent on reconnect');
});

t.test('every command type with its params is accepted, stored as sent, and carried out by the simulator', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const dispenser = new SimulatedDispenser({ id: device.id, secret: device.secret, url: hub.urls.mqtt, clock: createSimClock({ startAt: Date.now(), speed: 1 }), heartbeatSeconds: 60, slots: { count: 2, pillsPerSlot: 3 } });
  t.teardown(() => dispenser.stop());
  const connected = new Promise((resolve) => dispenser.once('connected', resolve));
  await dispenser.start();
  await connected;

  const accepted: Body[] = [
    { type: 'dispense_now', params: { slot: 1, pills: 2, occurrenceId: 'occ-manual-1' } },
    { type: 'ring', params: { durationSeconds: 10 } },
    { type: 'locate', params: { durationSeconds: 600 } },
    { type: 'sync_time', params: { serverTime: new Date().toISOString() } },
    // Without params: the hub's own time.
    { type: 'sync_time' },
    // Last: the simulator restarts after acking it. Without params it means right away.
    { type: 'reboot' },
  ];
  for (const body of accepted) {
    const answer = await request(hub, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body });
    t.equal(answer.status, 201, `${String(body.type)}: ${JSON.stringify(answer.body)}`);
    t.match(answer.body, { type: body.type, status: 'pending' });
    if (body.params) t.same(answer.body.params, body.params, `${String(body.type)} is stored with its params`);
    if (body.type === 'reboot') t.same(answer.body.params, {}, 'reboot without params: {} as the device gets it (the store drops empty objects)');
    if (body.type === 'sync_time' && !body.params) t.same(answer.body.params, { serverTime: answer.body.issuedAt }, 'sync_time without params carries the hub’s time');
    const done = await eventually(async () => {
      const command = await request(hub, 'GET', `/api/v1/devices/${device.id}/commands/${answer.body.commandId as string}`, { token: s.clinician.token });
      return command.body.status !== 'pending' && command.body;
    });
    t.equal(done.status, 'succeeded', `the simulator understood ${String(body.type)} and acked it succeeded (${JSON.stringify(done.error)})`);
  }
});
