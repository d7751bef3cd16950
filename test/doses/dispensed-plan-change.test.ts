/**
 * A plan change while a dose's pills are out of the dispenser: the dose dispensed is never
 * cancelled and stands for its day's dose (the patient gets no second pill that day), and a device
 * that dispensed or reports taken a dose the plan change had cancelled (from the schedule it held
 * before) brings it back — the pills left the device — and the dose that replaced it makes way.
 */
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import type { MqttClient } from 'mqtt';
import type { Hub } from '../../src/hub.js';
import type { ManualClock } from '../../src/ports/clock.js';
import { eventually } from '../helpers/devices.js';
import { as, dosesOf, holdNext, morningDue, scheduleToday, sendEvent, stateOf } from './helpers.js';

const TODAY_FROM = '2026-06-10T00:00:00Z';
const TODAY_TO = '2026-06-11T00:00:00Z';
type Dose = Record<string, unknown>;

const plan = (time: string) => ({ medications: [{ id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1, stock: 60 }], schedule: [{ id: 'daily', medicationId: 'warfarin', times: [time], startDate: '2026-06-10' }] });
const summary = (doses: Dose[]) => doses.map((d) => `${(d.dueAt as string).slice(11, 16)} ${d.state as string}`);

/** A device event, applied (stored and processed) before this returns. */
async function deviceEvent(hub: Hub, client: MqttClient, deviceId: string, clock: ManualClock, event: Record<string, unknown>): Promise<void> {
  const eventId = randomUUID();
  await sendEvent(client, deviceId, { eventId, at: clock.now().toISOString(), slot: 1, pills: 1, ...event });
  await eventually(async () => (await hub.features.devices.models.DeviceEvent.findOne({ eventId }).lean())?.processed === true);
}

/** A patient with a dispenser and warfarin at 08:00 Paris (06:00Z); at 08:01 the dose is due. */
async function morning(t: Test) {
  const { clock, hub, s, device, client, doses } = await morningDue(t, plan('08:00'));
  const [dose] = doses as [Dose];
  const named = { dueAt: dose.dueAt, occurrenceId: dose.id };
  return { clock, hub, s, device, client, dose, named };
}

t.test('a dose dispensed, its time moved out of its window: it stays, stands for the day, and the patient’s dose.taken settles it', async (t) => {
  const { clock, hub, s, device, client, dose, named } = await morning(t);
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', ...named });

  clock.set('2026-06-10T06:05:00Z'); // 08:05: the daily dose moves to 14:00
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('14:00'))).status, 200);
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 due'], 'the dispensed dose is not cancelled, and no 14:00 dose today');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T06:00:00.000Z'], 'the dispenser is not told to drop a second pill at 14:00');

  clock.set('2026-06-10T06:10:00Z'); // 08:10: the patient takes the pill from the tray
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.taken', ...named });
  t.equal(await stateOf(hub, dose.id as string), 'taken');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 taken']);
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, '2026-06-11T00:00:00Z', '2026-06-12T00:00:00Z')), ['12:00 scheduled'], 'tomorrow at 14:00');
});

t.test('a dose cancelled by a plan change, then dispensed from the schedule the device held: back under way, and the dose that replaced it makes way', async (t) => {
  const { clock, hub, s, device, client, dose, named } = await morning(t);
  clock.set('2026-06-10T06:02:00Z'); // 08:02, nothing dispensed yet: the dose moves to 20:00
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('20:00'))).status, 200);
  t.equal(await stateOf(hub, dose.id as string), 'cancelled');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['18:00 scheduled']);

  clock.set('2026-06-10T06:03:00Z'); // the dispenser had not got the new schedule
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', ...named });
  t.has(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'due', source: 'device', dispensedAt: new Date('2026-06-10T06:03:00Z') }, 'the dispensed dose is a dose again');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 due'], 'no second warfarin at 20:00');
  await eventually(async () => JSON.stringify(await scheduleToday(hub, device.id)) === JSON.stringify(['2026-06-10T06:00:00.000Z']));

  clock.set('2026-06-10T06:06:00Z');
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.taken', ...named });
  t.equal(await stateOf(hub, dose.id as string), 'taken');
  const adherence = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/adherence?from=2026-06-10&to=2026-06-10`);
  t.match(adherence.body.days[0], { scheduled: 1, takenOnTime: 1, adherencePercent: 100 });
});

t.test('a dose cancelled by a plan change, reported taken by the device (its dose.dispensed not applied yet): taken, and the day gets no second dose', async (t) => {
  const { clock, hub, s, device, client, dose, named } = await morning(t);
  clock.set('2026-06-10T06:02:00Z');
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('20:00'))).status, 200);
  t.equal(await stateOf(hub, dose.id as string), 'cancelled');

  clock.set('2026-06-10T06:04:00Z');
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.taken', ...named });
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 taken'], 'taken, and the 20:00 dose gone');
  // The dose.dispensed sent before it arrives now: recorded, the dose stays taken.
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', ...named, at: '2026-06-10T06:02:30Z' });
  t.has(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'taken', dispensedAt: new Date('2026-06-10T06:02:30Z') });
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 taken']);
});

t.test('a dose dispensed while a plan change is cancelling it: not cancelled, and the rebuild runs again so the day gets no second dose', async (t) => {
  const { clock, hub, s, device, client, dose, named } = await morning(t);
  clock.set('2026-06-10T06:02:00Z');
  // The rebuild read the dose undispensed and chose to cancel it; its write waits while the device dispenses.
  const cancel = holdNext(hub, 'findOneAndUpdate', ([, update]) => (update as { $set?: { state?: string } }).$set?.state === 'cancelled');
  const put = as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('20:00'));
  await cancel.reached;
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', ...named });
  cancel.release();
  t.equal((await put).status, 200);
  t.has(await hub.features.doses.models.Occurrence.findById(dose.id).lean(), { state: 'due', dispensedAt: new Date('2026-06-10T06:02:00Z') }, 'not cancelled');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, TODAY_FROM, TODAY_TO)), ['06:00 due'], 'no 20:00 dose today');
  t.same(await scheduleToday(hub, device.id), ['2026-06-10T06:00:00.000Z']);
});

t.test('a dispenser whose clock runs ahead: its dispense and its taken are dated when the hub heard of them, never later', async (t) => {
  const { clock, hub, device, client, dose, named } = await morning(t);
  const ahead = (seconds: number) => new Date(clock.now().getTime() + seconds * 1000).toISOString();
  const dispensedHeard = clock.now();
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.dispensed', trigger: 'schedule', ...named, at: ahead(30) });
  t.equal((await hub.features.doses.models.Occurrence.findById(dose.id).lean())?.dispensedAt?.toISOString(), dispensedHeard.toISOString(), 'not 30 s in the future');
  clock.advance(5_000);
  const takenHeard = clock.now();
  await deviceEvent(hub, client, device.id, clock, { type: 'dose.taken', ...named, at: ahead(40) });
  const stored = await hub.features.doses.models.Occurrence.findById(dose.id).lean();
  t.equal(stored?.state, 'taken');
  t.equal(stored?.takenAt?.toISOString(), takenHeard.toISOString());
  t.ok(stored?.dispensedAt && stored.takenAt && stored.dispensedAt <= stored.takenAt, 'dispensed before taken');
});
