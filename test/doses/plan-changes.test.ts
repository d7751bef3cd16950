/**
 * A plan replaced during the day: doses already had are never offered twice, doses under way of a
 * medication or time that left the plan are cancelled (not called missed), and a client that PUTs
 * the plan without item ids keeps the items it had.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import type { Hub } from '../../src/hub.js';
import { careScenario, type Login } from '../helpers/factories.js';
import { as, dosesOf, onlineDevice, sendEvent, startDoseHub } from './helpers.js';

const DAY_FROM = '2026-06-10T00:00:00Z';
const DAY_TO = '2026-06-11T00:00:00Z';
type Dose = Record<string, unknown>;

/** Sweeps at each instant, in order. */
async function sweepAt(hub: Hub, clock: ManualClock, ...instants: string[]): Promise<void> {
  for (const instant of instants) {
    clock.set(instant);
    await hub.features.doses.service.sweep();
  }
}

const summary = (doses: Dose[]) => doses.map((d) => `${d.medicationId as string} ${(d.dueAt as string).slice(11, 16)} ${d.state as string}`);

async function adherenceOfTheDay(hub: Hub, user: Login, patientId: string): Promise<Dose> {
  const answer = await as(hub, user, 'GET', `/patients/${patientId}/adherence?from=2026-06-10&to=2026-06-10`);
  return answer.body.days[0] as Dose;
}

t.test('the same plan PUT again without ids: the dose taken early is the only one of its time, and nothing is called missed', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z'); // 07:00 in Paris
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const plan = { medications: [{ id: 'metformin', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 60 }], schedule: [{ medicationId: 'metformin', times: ['08:00'], startDate: '2026-06-10' }] };
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan);
  t.equal(created.status, 201);
  const itemId = created.body.schedule[0].id as string;
  const [dose] = (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)) as [Dose];

  clock.set('2026-06-10T05:40:00Z'); // 07:40: taken 20 minutes early
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: clock.now().toISOString(), slot: 1, pills: 1, dueAt: dose.dueAt, occurrenceId: dose.id });
  clock.set('2026-06-10T05:45:00Z');
  const put = await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, { ...plan, medications: [{ ...plan.medications[0], stock: 59 }] });
  t.equal(put.status, 200, JSON.stringify(put.body));
  t.equal(put.body.schedule[0].id, itemId, 'an item without id that matches one of the previous plan (medication and times) keeps its id');

  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)), ['metformin 06:00 taken'], 'no scheduled twin of the taken dose');
  await sweepAt(hub, clock, '2026-06-10T06:00:00Z', '2026-06-10T06:30:00Z', '2026-06-10T07:01:00Z');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)), ['metformin 06:00 taken']);
  t.same(await hub.features.alerts.models.Alert.find({ patientId: s.patient.id }).lean(), [], 'no alert');
  t.match(await adherenceOfTheDay(hub, s.clinician, s.patient.id), { scheduled: 1, takenOnTime: 1, missed: 0, adherencePercent: 100 });
});

t.test('mid-day: a medication stopped while its dose is due is cancelled, and a time moved after the dose was taken adds no dose', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z'); // 07:00 in Paris; no dispenser: doses are confirmed by people
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const plan = (edited: boolean) => ({
    medications: [{ id: 'aspirin', name: 'Aspirin', slot: 1, pillsPerDose: 1 }, ...(edited ? [] : [{ id: 'prednisone', name: 'Prednisone', slot: 2, pillsPerDose: 1 }])],
    schedule: [{ id: 'aspirin-am', medicationId: 'aspirin', times: [edited ? '08:30' : '08:00'], startDate: '2026-06-10' }, ...(edited ? [] : [{ id: 'prednisone-am', medicationId: 'prednisone', times: ['08:00'], startDate: '2026-06-10' }])],
  });
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan(false))).status, 201);
  const doses = await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO);
  const aspirin = doses.find((d) => d.medicationId === 'aspirin') as Dose;
  const prednisone = doses.find((d) => d.medicationId === 'prednisone') as Dose;

  clock.set('2026-06-10T05:55:00Z');
  t.match((await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${aspirin.id as string}/confirm`, {})).body, { state: 'taken' }, 'aspirin taken at 07:55');
  await sweepAt(hub, clock, '2026-06-10T06:01:00Z', '2026-06-10T06:31:00Z');
  const late = await hub.features.alerts.models.Alert.findOne({ cause: `dose.late:${prednisone.id as string}` }).lean();
  t.match(late, { status: 'active' }, 'prednisone is due, and late past 08:30');

  // 08:40: prednisone stopped, aspirin moved to 08:30.
  clock.set('2026-06-10T06:40:00Z');
  const put = await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan(true));
  t.equal(put.status, 200, JSON.stringify(put.body));
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)), ['aspirin 06:00 taken'], 'one aspirin today (taken), no prednisone');
  const cancelled = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/doses?from=${DAY_FROM}&to=${DAY_TO}&state=cancelled`);
  t.equal(cancelled.status, 200);
  t.match(cancelled.body.items, [{ id: prednisone.id, state: 'cancelled', source: 'plan' }], 'the stopped medication’s dose is kept for the record, cancelled');
  t.ok(hub.context.schemas.check('http/dose-view', cancelled.body.items[0]).ok, 'a cancelled dose follows schemas/http/dose-view.json');
  t.match(await hub.features.alerts.models.Alert.findById(late?._id).lean(), { status: 'resolved', resolved: { auto: true, note: 'dose cancelled' } }, 'its dose.late is resolved');

  await sweepAt(hub, clock, '2026-06-10T07:00:00Z', '2026-06-10T07:31:00Z');
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)), ['aspirin 06:00 taken']);
  t.same((await hub.features.alerts.models.Alert.find({ patientId: s.patient.id, type: 'dose.missed' }).lean()).map((a) => a.cause), [], 'nothing called missed');
  t.match(await adherenceOfTheDay(hub, s.clinician, s.patient.id), { scheduled: 1, takenOnTime: 1, missed: 0, pending: 0, adherencePercent: 100 }, 'a cancelled dose is not counted');
  const tomorrow = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-11T00:00:00Z', '2026-06-12T00:00:00Z');
  t.same(summary(tomorrow), ['aspirin 06:30 scheduled'], 'the new plan from tomorrow');
});

t.test('mid-day: a dose had is not offered again wherever its time moved; a dose under way stays when its time moved near, makes way when it moved far', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const meds = ['taken', 'far', 'near'];
  const plan = (times: Record<string, string>) => ({
    medications: meds.map((id, index) => ({ id, name: id, slot: index + 1, pillsPerDose: 1 })),
    schedule: meds.map((id) => ({ id: `${id}-item`, medicationId: id, times: [times[id] ?? '08:00'], startDate: '2026-06-10' })),
  });
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan({}))).status, 201);
  const taken = (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)).find((d) => d.medicationId === 'taken') as Dose;
  clock.set('2026-06-10T06:05:00Z');
  await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${taken.id as string}/confirm`, {});
  await sweepAt(hub, clock, '2026-06-10T06:06:00Z');

  // 08:10: all three moved, two of them while their dose is due.
  clock.set('2026-06-10T06:10:00Z');
  t.equal((await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan({ taken: '20:00', far: '20:00', near: '08:30' }))).status, 200);
  t.same(
    summary(await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)).sort(),
    ['far 18:00 scheduled', 'near 06:00 due', 'taken 06:00 taken'],
    'taken: no second dose today; far: the 08:00 dose cancelled for the 20:00 one; near: the 08:00 dose under way stands for 08:30',
  );
  t.same(summary(await dosesOf(hub, s.clinician, s.patient.id, '2026-06-11T00:00:00Z', '2026-06-12T00:00:00Z')).sort(), ['far 18:00 scheduled', 'near 06:30 scheduled', 'taken 18:00 scheduled'], 'tomorrow: the new times');
});
