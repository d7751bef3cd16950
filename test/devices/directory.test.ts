/**
 * What the hub keeps in memory about devices and plans (so that a batch of events does not read
 * them again) follows every change at once: a device moved to another patient stamps its next
 * event with the new patient; a plan created after a plan-less dose event matches the next one;
 * and the same across two hub instances sharing a database and Redis — where disabling a device
 * on one also ends its session on the other.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { createDeviceDirectory } from '../../src/features/devices/directory.js';
import { createPlannedPatients } from '../../src/features/doses/planned-patients.js';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent } from '../helpers/clients.js';
import { connectDevice, eventually, heartbeat, inbox, provisionDevice, topic } from '../helpers/devices.js';
import { careScenario, currentToken, type Login } from '../helpers/factories.js';
import { startHubPair, startTestHub } from '../helpers/hub.js';
import { as, dosesOf, onlineDevice, sendEvent, twoMedicationPlan, waitForState } from '../doses/helpers.js';

/** The morning dose of the two-medication plan (08:00 Paris on 10 June 2026 = 06:00Z). */
const MORNING_DOSE = '2026-06-10T06:00:00.000Z';

const storedPatientOf = async (hub: Hub, eventId: string): Promise<string> => {
  const event = await hub.features.devices.models.DeviceEvent.findOne({ eventId }).lean();
  return String(event?.patientId);
};

/** A dose.taken for the morning dose, `at` the test clock's time. */
async function sendTaken(client: MqttClient, deviceId: string, at: Date): Promise<string> {
  const eventId = randomUUID();
  await sendEvent(client, deviceId, { eventId, type: 'dose.taken', at: at.toISOString(), slot: 1, pills: 1, dueAt: MORNING_DOSE });
  return eventId;
}

async function watch(t: Test, hub: Hub, user: Login, patientId: string) {
  const socket = connectSocket(t, hub, { auth: { token: await currentToken(hub, user) } });
  await nextEvent(socket, 'connect');
  await socket.timeout(5000).emitWithAck('patient:subscribe', { patientId });
  const received: string[] = [];
  socket.on('dose:event', (event: { eventId: string }) => received.push(event.eventId));
  return received;
}


t.test('one hub: a device moved to another patient, and a plan created after a plan-less dose event', async (t) => {
  const clock = new ManualClock('2026-06-10T05:55:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const alicesTeam = await watch(t, hub, s.caregiver, s.patient.id);

  const first = await sendTaken(client, device.id, clock.now());
  t.equal(await storedPatientOf(hub, first), s.patient.id, 'stamped with its patient');
  await eventually(async () => alicesTeam.includes(first));

  const moved = await as(hub, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId: s.otherPatient.id });
  t.equal(moved.status, 200, JSON.stringify(moved.body));
  const second = await sendTaken(client, device.id, clock.now());
  t.equal(await storedPatientOf(hub, second), s.otherPatient.id, 'the next event is stamped with the new patient at once');
  const third = await sendTaken(client, device.id, clock.now());
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(alicesTeam, [first], 'the former patient’s care team gets none of its events any more');
  t.equal(await storedPatientOf(hub, third), s.otherPatient.id);

  // Back to Alice, who has no plan yet: a dose event asks whether she has one (no).
  t.equal((await as(hub, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId: s.patient.id })).status, 200);
  await sendTaken(client, device.id, clock.now());
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'));
  t.equal(created.status, 201, JSON.stringify(created.body));
  const [morning] = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  t.equal(morning?.dueAt, MORNING_DOSE);
  await sendTaken(client, device.id, clock.now());
  await waitForState(hub, morning?.id as string, 'taken');
  t.pass('the plan’s first dose event is matched at once, not after the “no plan” answer expires');
});

t.test('two instances: a change made on one reaches what the other keeps, and ends the session there', async (t) => {
  const clock = new ManualClock('2026-06-10T05:55:00Z');
  const { a, b } = await startHubPair(t, { clock });
  const s = await careScenario(a);
  const { device, client } = await onlineDevice(t, a, s.clinician, s.patient.id);

  const first = await sendTaken(client, device.id, clock.now());
  t.equal(await storedPatientOf(a, first), s.patient.id);
  t.equal((await as(b, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId: s.otherPatient.id })).status, 200, 'moved on hub B');
  // Hub B's message reaches hub A through Redis a moment later.
  await eventually(async () => (await storedPatientOf(a, await sendTaken(client, device.id, clock.now()))) === s.otherPatient.id);
  t.pass('hub A stamps the device’s events with the new patient');

  // Alice has no plan: hub A answers the dose event's question "no" and keeps the answer.
  t.equal((await as(b, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId: s.patient.id })).status, 200);
  await eventually(async () => (await storedPatientOf(a, await sendTaken(client, device.id, clock.now()))) === s.patient.id);
  t.equal((await as(b, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201, 'plan created on hub B');
  const [morning] = await dosesOf(b, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  await eventually(async () => {
    await sendTaken(client, device.id, clock.now());
    return (await a.features.doses.models.Occurrence.findById(morning?.id).lean())?.state === 'taken';
  });
  t.pass('hub A matches the next dose event with the plan hub B created');

  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const disabled = await as(b, s.admin, 'PATCH', `/devices/${device.id}`, { disabled: true });
  t.equal(disabled.body.disabled, true);
  await closed;
  t.pass('disabling the device on hub B ends its session on hub A');
});

t.test('a read that overlaps a change is used but not kept; a plan created meanwhile answers yes', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const directory = createDeviceDirectory(hub.features.devices.models.Device);
  const reading = directory.lookup([device.id]);
  await new Promise((resolve) => setImmediate(resolve)); // the gathered read has gone out
  directory.forget(device.id); // the device changes while the read is in flight
  t.ok((await reading).has(device.id), 'the read answers its own batch');
  t.equal(directory.size, 0, 'but is not kept: it may hold the device as it was');
  await directory.lookup([device.id]);
  t.equal(directory.size, 1, 'a read with no change meanwhile is kept');

  const peers = { toPeers: () => undefined, onPeer: () => undefined };
  const planned = createPlannedPatients(hub.features.doses.models.Plan, peers);
  const asking = planned.has(s.patient.id); // no plan in the store yet
  planned.created(s.patient.id);
  t.equal(await asking, true, 'a plan created while the store answered “no” wins');
});

/** Counts the finds on the devices collection from now on. */
function devicesFinds(hub: Hub): { readonly count: number } {
  let count = 0;
  hub.context.store.onCommand((command, collection) => {
    if (command === 'find' && collection === 'devices') count += 1;
  });
  return {
    get count() {
      return count;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A hub with `count` devices and a directory of its own over them (age limit `ttlMs`, else the hub's). */
async function directoryOver(t: Test, count: number, ttlMs?: number) {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const devices = await Promise.all(Array.from({ length: count }, () => provisionDevice(hub, s.clinician, { patientId: s.patient.id })));
  const { Device } = hub.features.devices.models;
  return {
    hub,
    ids: devices.map((device) => device.id),
    directory: createDeviceDirectory(Device, ttlMs),
    /** As when another instance disabled it and its peer message was lost: only the store knows. */
    disableBehindItsBack: async (id: string) => void (await Device.updateOne({ _id: id }, { $set: { disabled: true } })),
  };
}

t.test('lookups that miss in the same turn share one read', async (t) => {
  const { hub, ids, directory } = await directoryOver(t, 3);
  const finds = devicesFinds(hub);
  const answers = await Promise.all(ids.map((id) => directory.lookup([id])));
  t.same(
    answers.map((answer) => [...answer.keys()]),
    ids.map((id) => [id]),
    'each batch gets its own device',
  );
  t.equal(finds.count, 1, 'from one find');
});

t.test('a device that keeps sending is read again in the background before its entry expires', async (t) => {
  const ttlMs = 600;
  const { hub, ids, directory, disableBehindItsBack } = await directoryOver(t, 1, ttlMs);
  const [id] = ids as [string];
  const finds = devicesFinds(hub);

  await directory.lookup([id]);
  t.equal(finds.count, 1, 'the first lookup reads the device');
  await directory.lookup([id]);
  t.equal(finds.count, 1, 'a young entry is used as it is');

  await sleep(ttlMs * 0.6);
  const aging = await directory.lookup([id]);
  t.ok(aging.has(id), 'an entry past half its age limit is still used at once');
  await eventually(async () => finds.count === 2);
  t.pass('and read again in the background');

  await sleep(ttlMs * 0.6); // past the first read's limit, not the background read's
  t.ok((await directory.lookup([id])).has(id));
  t.equal(finds.count, 2, 'so the device’s next lookup does not wait for a read');
  await eventually(async () => finds.count === 3); // (and, half-way again, starts the next one)

  // Disabled behind the directory's back (a lost peer message): the background read drops it.
  await disableBehindItsBack(id);
  t.ok((await directory.lookup([id])).has(id), 'still used within the limit of its last read');
  await sleep(ttlMs * 0.6);
  await directory.lookup([id]);
  await eventually(async () => directory.size === 0);
  t.pass('the background read finds it disabled and drops it');
  t.equal((await directory.lookup([id])).size, 0, 'its next lookup reads the store and refuses it');
});

t.test('a lookup that waits for a read answers its cached devices from that read too', async (t) => {
  const { hub, ids, directory, disableBehindItsBack } = await directoryOver(t, 2);
  const [known, other] = ids as [string, string];
  await directory.lookup([known]);
  // Disabled behind the directory's back; then a batch with a device it has not read yet.
  await disableBehindItsBack(known);
  const finds = devicesFinds(hub);
  const answer = await directory.lookup([known, other]);
  t.same([...answer.keys()], [other], 'the cached device is answered as the read found it (disabled: absent), not as it was');
  t.equal(finds.count, 1, 'in the same find');
});

t.test('an entry past its age limit is never used: the lookup waits for a read', async (t) => {
  const ttlMs = 300;
  const { ids, directory, disableBehindItsBack } = await directoryOver(t, 1, ttlMs);
  const [id] = ids as [string];
  await directory.lookup([id]);
  await disableBehindItsBack(id);
  await sleep(ttlMs + 50); // no lookup in between, so no background read either
  t.equal((await directory.lookup([id])).size, 0, 'the disabled device is refused');
});

t.test('a device disabled behind this instance’s back is refused and disconnected at its next message', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const client = await connectDevice(t, hub, device, { reconnectPeriod: 0 });
  const errors = await inbox(client, topic(device.id, 'errors'));
  // As when another instance disabled it and its peer message was lost: only the store knows.
  await hub.features.devices.models.Device.updateOne({ _id: device.id }, { $set: { disabled: true } });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat()), { qos: 0 });
  t.match((await errors()).payload, { code: 'forbidden_topic' }, 'told why');
  await closed;
  t.pass('and disconnected');
});
