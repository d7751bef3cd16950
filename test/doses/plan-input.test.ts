/** What a plan may say (real calendar dates, no dose twice), one plan per patient, and the refill rate it gives. */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { as, onlineDevice, sendEvent, startDoseHub, twoMedicationPlan } from './helpers.js';

t.test('impossible calendar dates are refused with a 400 problem, on POST and PUT, in every date field', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const path = `/patients/${s.patient.id}/medication-plans`;
  const withItem = (item: Record<string, unknown>) => {
    const plan = twoMedicationPlan('2026-06-10');
    return { ...plan, schedule: [{ ...plan.schedule[0], ...item }, plan.schedule[1]] };
  };

  for (const [item, field] of [
    [{ startDate: '2025-02-29', everyNDays: 2 }, 'startDate'],
    [{ startDate: '2026-04-31' }, 'startDate'],
    [{ startDate: '2026-06-01', endDate: '2026-06-31' }, 'endDate'],
    [{ startDate: '2026-06-01', endDate: '2027-02-29' }, 'endDate'],
  ] as const) {
    const refused = await as(hub, s.clinician, 'POST', path, withItem(item));
    t.equal(refused.status, 400, `POST ${JSON.stringify(item)}`);
    t.match(refused.headers.get('content-type'), /application\/problem\+json/);
    t.match(refused.body, { code: 'validation_failed', errors: [{ path: `/schedule/0/${field}` }] });
  }
  t.equal(await hub.features.doses.models.Plan.countDocuments({}), 0, 'no plan was written');

  t.equal((await as(hub, s.clinician, 'POST', path, withItem({ startDate: '2028-02-29', everyNDays: 2 }))).status, 201, 'a real leap day is a date');
  const put = await as(hub, s.clinician, 'PUT', path, withItem({ startDate: '2025-02-29', everyNDays: 2 }));
  t.equal(put.status, 400, 'PUT refuses it too');
  t.match(put.body, { code: 'validation_failed', errors: [{ path: '/schedule/0/startDate' }] });
  t.match((await as(hub, s.clinician, 'GET', path)).body, { version: 1, schedule: [{ startDate: '2028-02-29' }] }, 'the plan is unchanged');
});

t.test('two creations at once: one plan, the other a 409 problem (never a 500)', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const path = `/patients/${s.patient.id}/medication-plans`;
  // The first creation is held at its insert, after it found no plan; the second then finds none either and inserts.
  const collection = hub.features.doses.models.Plan.collection as unknown as { insertOne: (...args: unknown[]) => Promise<unknown> };
  const original = collection.insertOne;
  let reach = (): void => undefined;
  let release = (): void => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  collection.insertOne = async function held(this: unknown, ...args: unknown[]) {
    collection.insertOne = original;
    reach();
    await released;
    return original.apply(this, args);
  };
  const first = as(hub, s.clinician, 'POST', path, twoMedicationPlan('2026-06-10'));
  await reached;
  const second = await as(hub, s.clinician, 'POST', path, twoMedicationPlan('2026-06-10'));
  t.equal(second.status, 201, 'the second creation wrote the plan');
  release();
  const refused = await first;
  t.equal(refused.status, 409, 'the first one lost the race: 409');
  t.match(refused.headers.get('content-type'), /application\/problem\+json/);
  t.match(refused.body, { code: 'conflict', detail: /already has a medication plan/ });
  t.equal(await hub.features.doses.models.Plan.countDocuments({ patientId: s.patient.id }), 1, 'one plan');
});

t.test('schedule items of one medication that would give the same dose twice are refused, naming both', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const path = `/patients/${s.patient.id}/medication-plans`;
  const medications = [{ id: 'metformin', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 60 }];
  const daily = { id: 'daily', medicationId: 'metformin', times: ['08:00'], startDate: '2026-06-10' };

  const overlapping = await as(hub, s.clinician, 'POST', path, { medications, schedule: [daily, { id: 'wednesdays', medicationId: 'metformin', times: ['20:00', '08:00'], daysOfWeek: [3], startDate: '2026-06-01' }] });
  t.equal(overlapping.status, 400);
  t.match(overlapping.headers.get('content-type'), /application\/problem\+json/);
  t.match(overlapping.body, { code: 'validation_failed', errors: [{ path: '/schedule/1', message: /schedule item 0 \(daily\).*08:00.*2026-06-10/ }] });
  const everyOther = { id: 'odd', medicationId: 'metformin', times: ['08:00'], everyNDays: 2, startDate: '2026-06-11' };
  const thirdDays = { id: 'third', medicationId: 'metformin', times: ['08:00'], everyNDays: 3, startDate: '2026-06-10' };
  t.match((await as(hub, s.clinician, 'POST', path, { medications, schedule: [everyOther, thirdDays] })).body, { errors: [{ path: '/schedule/1', message: /schedule item 0 \(odd\).*2026-06-13/ }] }, 'every 2 days from the 11th and every 3 from the 10th meet on the 13th');
  t.equal(await hub.features.doses.models.Plan.countDocuments({}), 0, 'nothing written');

  // Items that never share a day (or a time) are fine.
  const schedule = [
    { ...daily, endDate: '2026-06-11' },
    { id: 'from-12th', medicationId: 'metformin', times: ['08:00'], startDate: '2026-06-12' },
    { id: 'even', medicationId: 'metformin', times: ['13:00'], everyNDays: 2, startDate: '2026-06-10' },
    { id: 'odd', medicationId: 'metformin', times: ['13:00'], everyNDays: 2, startDate: '2026-06-11' },
    { id: 'weekend', medicationId: 'metformin', times: ['20:00'], daysOfWeek: [6, 7], startDate: '2026-06-10' },
    { id: 'weekdays', medicationId: 'metformin', times: ['20:00'], daysOfWeek: [1, 2, 3, 4, 5], startDate: '2026-06-10' },
  ];
  const created = await as(hub, s.clinician, 'POST', path, { medications, schedule });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const doses = await hub.features.doses.models.Occurrence.find({ patientId: s.patient.id }).lean();
  t.equal(doses.length, 9, '3 doses a day for 3 days');
  t.equal(new Set(doses.map((d) => d.dueAt.getTime())).size, doses.length, 'never two at one instant');

  const put = await as(hub, s.clinician, 'PUT', path, { medications, schedule: [...schedule, { id: 'again', medicationId: 'metformin', times: ['13:00'], startDate: '2026-06-20', endDate: '2026-06-20' }] });
  t.equal(put.status, 400, 'a PUT is checked the same way');
  t.match(put.body, { errors: [{ path: '/schedule/6', message: /schedule item 2 \(even\)/ }] });
});

t.test('the refill rate counts only the items with doses over the next 3 days', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const plan = {
    medications: [{ id: 'metformin', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 5 }],
    schedule: [
      { id: 'before', medicationId: 'metformin', times: ['08:00'], startDate: '2026-06-01', endDate: '2026-06-09' },
      { id: 'now', medicationId: 'metformin', times: ['20:00'], startDate: '2026-06-10' },
      { id: 'august', medicationId: 'metformin', times: ['12:00'], startDate: '2026-08-01' },
    ],
  };
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  // A commanded dose: 4 pills left, at the one dose a day of the only item under way: 4 days.
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'command', commandId: randomUUID() });
  t.match((await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/medication-plans`)).body, { medications: [{ stock: 4 }] });
  t.same(await hub.features.alerts.models.Alert.find({ type: 'refill.low' }).lean(), [], 'no refill.low: the ended and the future items do not count');
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 2, trigger: 'command', commandId: randomUUID() });
  t.match(await hub.features.alerts.models.Alert.find({ type: 'refill.low' }).lean(), [{ details: { pillsLeft: 2, daysLeft: 2 } }], '2 pills at 1 a day: low');
});
