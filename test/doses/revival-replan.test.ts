/**
 * The rebuild a revived dose owes. A device's event naming a dose a plan change had cancelled
 * brings it back, and the patient's doses are rebuilt so that the dose which replaced it that day
 * goes (from the plan and from the device's schedule). That rebuild is owed durably: recorded by
 * the write that revives the dose, paid only by a rebuild that stood — so a rebuild the store
 * refused is tried again by the per-minute job (on any instance, any number of times) or by the
 * event applied again, and never lost.
 *
 * The store refuses the rebuild's last write (the plan's new `generatedUntil`) with a unique index
 * another document already fills with that instant: a real refusal, at a known instant (the
 * test's clock), and lifted by dropping the index.
 */
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { MqttClient } from 'mqtt';
import { Types } from 'mongoose';
import type { Hub } from '../../src/hub.js';
import type { ManualClock } from '../../src/ports/clock.js';
import { eventually } from '../helpers/devices.js';
import { as, dosesOf, holdNext, HOUR, morningDue, scheduleToday, secondInstance, sendEvent, stateOf, type onlineDevice } from './helpers.js';

const TODAY_FROM = '2026-06-10T00:00:00Z';
const TODAY_TO = '2026-06-11T00:00:00Z';
type Dose = Record<string, unknown>;

const oneMedication = (time: string) => ({ medications: [{ id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1, stock: 60 }], schedule: [{ id: 'daily', medicationId: 'warfarin', times: [time], startDate: '2026-06-10' }] });
const twoMedications = (time: string) => ({
  medications: [
    { id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1, stock: 60 },
    { id: 'metformin', name: 'Metformin', slot: 2, pillsPerDose: 1, stock: 60 },
  ],
  schedule: [
    { id: 'warfarin-daily', medicationId: 'warfarin', times: [time], startDate: '2026-06-10' },
    { id: 'metformin-daily', medicationId: 'metformin', times: [time], startDate: '2026-06-10' },
  ],
});
const summary = (doses: Dose[]) => doses.map((d) => `${d.medicationId as string} ${(d.dueAt as string).slice(11, 16)} ${d.state as string}`);

/** A device event, sent and applied (stored and processed) before this returns; answers its eventId. */
async function deviceEvent(hub: Hub, client: MqttClient, deviceId: string, clock: ManualClock, event: Record<string, unknown>): Promise<string> {
  const eventId = randomUUID();
  await sendEvent(client, deviceId, { eventId, at: clock.now().toISOString(), pills: 1, ...event });
  await processed(hub, eventId);
  return eventId;
}

async function processed(hub: Hub, eventId: string): Promise<void> {
  await eventually(async () => (await hub.features.devices.models.DeviceEvent.findOne({ eventId }).lean())?.processed === true);
}

async function debtOf(hub: Hub, occurrenceId: string): Promise<unknown> {
  return (await hub.features.doses.models.Occurrence.findById(occurrenceId).lean())?.replanOwed;
}

/**
 * The store refuses any plan write that sets `generatedUntil` to `instant` (a rebuild's last write
 * when the clock says `instant - 72 h`): another document holds that instant under a unique index.
 * Answers what lifts it.
 */
async function refusePlanWrite(hub: Hub, instant: Date): Promise<() => Promise<void>> {
  const plans = hub.features.doses.models.Plan.collection;
  const { insertedId } = await plans.insertOne({ patientId: new Types.ObjectId(), refusesRebuild: true, generatedUntil: instant });
  await plans.createIndex({ generatedUntil: 1 }, { unique: true, partialFilterExpression: { generatedUntil: { $type: 'date' } }, name: 'refuses_rebuild' });
  return async () => {
    await plans.dropIndex('refuses_rebuild');
    await plans.deleteOne({ _id: insertedId });
  };
}

/**
 * A patient with a dispenser; `plan('08:00')` (08:00 Paris, 06:00Z) due at 08:01; at 08:02 the
 * doses move to 20:00 (18:00Z) and today's 08:00 ones are cancelled, while the dispenser still holds
 * its old schedule.
 */
async function cancelledMorning(t: Test, plan: (time: string) => Record<string, unknown>, { dispensers = 1 } = {}) {
  const { clock, hub, s, device, client, others, doses: morning } = await morningDue(t, plan('08:00'), { dispensers });
  clock.set('2026-06-10T06:02:00Z');
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('20:00'))).status, 200);
  for (const dose of morning) t.equal(await stateOf(hub, dose.id as string), 'cancelled');
  t.same(await scheduleToday(hub, device.id), morning.map(() => '2026-06-10T18:00:00.000Z'), 'the device’s new schedule has the 20:00 doses');
  return { clock, hub, s, device, client, morning, others };
}

t.test('the rebuild after a revival fails: the dose still owes it, and the per-minute job pays it — on two instances at once, once', async (t) => {
  const { clock, hub, s, device, client, morning } = await cancelledMorning(t, oneMedication);
  const [dose] = morning as [Dose];

  clock.set('2026-06-10T06:03:00Z'); // the dispenser drops the 08:00 pill from the schedule it held
  const lift = await refusePlanWrite(hub, new Date(clock.now().getTime() + 72 * HOUR));
  const eventId = await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', slot: 1, dueAt: dose.dueAt, occurrenceId: dose.id });
  t.has(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'due', dispensedAt: new Date('2026-06-10T06:03:00Z') }, 'the event stands: the dose is back');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T18:00:00.000Z'], 'the rebuild failed: the device still holds the 20:00 dose, a second pill today');
  t.equal(await debtOf(hub, dose.id as string), true, 'the dose owes the rebuild');

  t.match(await hub.features.doses.service.replanOwed(), { patients: 1, rebuilt: 0 }, 'still refused: tried, not paid');
  t.equal(await debtOf(hub, dose.id as string), true, 'a rebuild that did not stand pays nothing');
  t.match(await hub.features.doses.service.replanOwed(), { patients: 0 }, 'a patient whose rebuild failed waits a minute before the next try');

  await lift();
  clock.set('2026-06-10T06:05:00Z');
  // The job on this instance and on another, side by side.
  const runs = await Promise.all([hub.features.doses.service.replanOwed(), secondInstance(hub).replanOwed()]);
  t.ok(runs.some((run) => run.rebuilt === 1), JSON.stringify(runs));
  t.equal(await debtOf(hub, dose.id as string), undefined, 'paid');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['warfarin 06:00 due'], 'no 20:00 dose today');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T06:00:00.000Z'], 'the device drops the 20:00 dose');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_TO, '2026-06-12T00:00:00Z')), ['warfarin 18:00 scheduled'], 'tomorrow at 20:00, once');
  t.match(await hub.features.doses.service.replanOwed(), { patients: 0, rebuilt: 0 }, 'nothing owed any more');
  t.equal((await hub.features.devices.models.DeviceEvent.findOne({ eventId }).lean())?.processed, true);
});

t.test('a cancelled dose reported taken, its rebuild refused: taken, owing the rebuild, which the job pays', async (t) => {
  const { clock, hub, s, device, client, morning } = await cancelledMorning(t, oneMedication);
  const [dose] = morning as [Dose];
  clock.set('2026-06-10T06:04:00Z');
  const lift = await refusePlanWrite(hub, new Date(clock.now().getTime() + 72 * HOUR));
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.taken', slot: 1, dueAt: dose.dueAt, occurrenceId: dose.id });
  t.match(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'taken', source: 'device', replanOwed: true }, 'taken, and the rebuild is owed');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T18:00:00.000Z'], 'the device still holds the 20:00 dose');
  await lift();
  clock.set('2026-06-10T06:05:00Z');
  t.match(await hub.features.doses.service.replanOwed(), { patients: 1, rebuilt: 1 });
  t.equal(await debtOf(hub, dose.id as string), undefined);
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['warfarin 06:00 taken']);
  t.same(await scheduleToday(hub, device.id), [], 'no second warfarin today on the device');
});

t.test('the event applied again (the devices’ recovery sweep, after the hub stopped before the rebuild) pays the debt', async (t) => {
  const { clock, hub, s, device, client, morning } = await cancelledMorning(t, oneMedication);
  const [dose] = morning as [Dose];
  clock.set('2026-06-10T06:03:00Z');
  const lift = await refusePlanWrite(hub, new Date(clock.now().getTime() + 72 * HOUR));
  const eventId = await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', slot: 1, dueAt: dose.dueAt, occurrenceId: dose.id });
  t.equal(await debtOf(hub, dose.id as string), true);
  await lift();
  // As if the hub had stopped after the revival's write: the event was never marked processed.
  const { DeviceEvent } = hub.features.devices.models;
  await DeviceEvent.updateOne({ eventId }, { $set: { processed: false } });

  clock.set('2026-06-10T06:04:00Z'); // its claim has lapsed
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 1, 'the recovery sweep applies it again');
  await processed(hub, eventId);
  t.equal(await debtOf(hub, dose.id as string), undefined, 'paid by the event applied again');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['warfarin 06:00 due']);
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T06:00:00.000Z'], 'the device drops the 20:00 dose');
  t.match(await hub.features.doses.models.Plan.findOne({ patientId: s.patient.id }).lean(), { medications: [{ stock: 59 }] }, 'the pill taken off the stock once');
});

t.test('a dose revived while the rebuild of another runs keeps its own debt when its own rebuild fails', async (t) => {
  const { clock, hub, s, device, client, morning, others } = await cancelledMorning(t, twoMedications, { dispensers: 2 });
  const [other] = others as [Awaited<ReturnType<typeof onlineDevice>>];
  const warfarin = morning.find((d) => d.medicationId === 'warfarin') as Dose;
  const metformin = morning.find((d) => d.medicationId === 'metformin') as Dose;

  // Warfarin dispensed at 08:03; its rebuild read the doses (metformin still cancelled) and is held as it inserts.
  clock.set('2026-06-10T06:03:00Z');
  const insert = holdNext(hub, 'bulkWrite', () => true);
  const first = randomUUID();
  // Not awaited: the device's ack waits for the event's effects, held here.
  const firstSent = sendEvent(client, device.id, { eventId: first, type: 'dose.dispensed', at: clock.now().toISOString(), trigger: 'schedule', slot: 1, pills: 1, dueAt: warfarin.dueAt, occurrenceId: warfarin.id });
  await insert.reached;
  // Metformin dispensed at 08:04 by the patient's other dispenser (one device's events are applied in turn): revived
  // meanwhile; its own rebuild waits for the first, and the store will refuse it.
  clock.set('2026-06-10T06:04:00Z');
  const lift = await refusePlanWrite(hub, new Date(clock.now().getTime() + 72 * HOUR));
  const second = randomUUID();
  const secondSent = sendEvent(other.client, other.device.id, { eventId: second, type: 'dose.dispensed', at: clock.now().toISOString(), trigger: 'schedule', slot: 2, pills: 1, dueAt: metformin.dueAt, occurrenceId: metformin.id });
  await eventually(async () => (await debtOf(hub, metformin.id as string)) === true);
  insert.release();
  await Promise.all([firstSent, secondSent]);
  await processed(hub, first);
  await processed(hub, second);
  t.equal(await debtOf(hub, warfarin.id as string), undefined, 'the first rebuild stood: warfarin’s debt is paid');
  t.equal(await debtOf(hub, metformin.id as string), true, 'metformin’s is not: the first rebuild read it cancelled, and its own was refused');

  await lift();
  clock.set('2026-06-10T06:05:00Z');
  t.match(await hub.features.doses.service.replanOwed(), { patients: 1, rebuilt: 1 });
  t.equal(await debtOf(hub, metformin.id as string), undefined);
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)).sort(), ['metformin 06:00 due', 'warfarin 06:00 due'], 'no 20:00 dose today');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T06:00:00.000Z', '2026-06-10T06:00:00.000Z']);
});

t.test('a cancelled dose dispensed after the dose that replaced it came due: that dose makes way, and the device’s schedule drops it', async (t) => {
  const { clock, hub, s, device, client, doses } = await morningDue(t, oneMedication('08:00'));
  const [dose] = doses as [Dose];
  clock.set('2026-06-10T06:02:00Z'); // 08:02: the dose moves to 10:00, beyond its window
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, oneMedication('10:00'))).status, 200);
  const [replacement] = (await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)) as [Dose];
  t.match(replacement, { dueAt: '2026-06-10T08:00:00.000Z', state: 'scheduled' });
  clock.set('2026-06-10T08:05:00Z'); // 10:05: the 10:00 dose is due
  await hub.features.doses.service.sweep();
  t.equal(await stateOf(hub, replacement.id as string), 'due');

  // The dispenser, offline since before the change, dropped the 08:00 pill at 08:03 and reports it now.
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', slot: 1, dueAt: dose.dueAt, occurrenceId: dose.id, at: '2026-06-10T06:03:00Z' });
  t.has(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'unknown', dispensedAt: new Date('2026-06-10T06:03:00Z') }, 'back: its window has closed, nobody knows yet whether it was taken');
  t.equal(await stateOf(hub, replacement.id as string), 'cancelled', 'the 10:00 dose makes way: the 08:00 one stands for the day');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['warfarin 06:00 unknown']);
  t.same(await scheduleToday(hub, device.id), [], 'the device is not told to drop a second pill at 10:00');
  t.equal(await debtOf(hub, dose.id as string), undefined);
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_TO, '2026-06-12T00:00:00Z')), ['warfarin 08:00 scheduled'], 'tomorrow at 10:00');
});
