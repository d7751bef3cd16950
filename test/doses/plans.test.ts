import t from 'tap';
import { expandItems } from '../../src/features/doses/expand.js';
import { localToUtc } from '../../src/features/doses/zone.js';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { eventually, nextMessage, topic } from '../helpers/devices.js';
import { as, startDoseHub, dosesOf, HOUR, onlineDevice, twoMedicationPlan } from './helpers.js';

const iso = (d: Date): string => d.toISOString();

t.test('zone math: Europe/Paris across both DST changes', async (t) => {
  const paris = 'Europe/Paris';
  t.equal(iso(localToUtc('2026-03-28', '08:00', paris)), '2026-03-28T07:00:00.000Z', 'winter: UTC+1');
  t.equal(iso(localToUtc('2026-03-29', '08:00', paris)), '2026-03-29T06:00:00.000Z', 'summer from the last Sunday of March: UTC+2');
  t.equal(iso(localToUtc('2026-03-29', '02:30', paris)), '2026-03-29T01:30:00.000Z', '02:30 does not exist: as far after the transition as after the gap’s start (03:30 CEST)');
  t.equal(iso(localToUtc('2026-03-29', '02:00', paris)), '2026-03-29T01:00:00.000Z', '02:00 does not exist either: 03:00 CEST');
  t.equal(iso(localToUtc('2026-03-29', '03:00', paris)), '2026-03-29T01:00:00.000Z', '03:00 is the end of the gap');
  t.equal(iso(localToUtc('2026-10-25', '02:30', paris)), '2026-10-25T00:30:00.000Z', '02:30 happens twice: the first (still CEST)');
  t.equal(iso(localToUtc('2026-10-25', '08:00', paris)), '2026-10-25T07:00:00.000Z', 'winter from the last Sunday of October');
  t.equal(iso(localToUtc('2026-11-01', '01:30', 'America/New_York')), '2026-11-01T05:30:00.000Z', 'the first 01:30 in New York (EDT)');
  t.equal(iso(localToUtc('2026-03-08', '02:30', 'America/New_York')), '2026-03-08T07:30:00.000Z', 'New York gap → 03:30 EDT');

  const item = { id: 'i', medicationId: 'm', times: ['02:30', '08:00'], startDate: '2026-01-01' };
  const march = expandItems([item], paris, new Date('2026-03-28T00:00:00Z'), new Date('2026-03-31T00:00:00Z')).map((d) => iso(d.dueAt));
  t.same(march, ['2026-03-28T01:30:00.000Z', '2026-03-28T07:00:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T06:00:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-30T06:00:00.000Z']);
  const weekly = expandItems([{ ...item, times: ['09:00'], daysOfWeek: [1, 3] }], paris, new Date('2026-06-01T00:00:00Z'), new Date('2026-06-08T00:00:00Z')).map((d) => d.localDate);
  t.same(weekly, ['2026-06-01', '2026-06-03'], 'days of week (ISO: 1 = Monday)');
  const everyThird = expandItems([{ ...item, times: ['09:00'], everyNDays: 3, startDate: '2026-06-01', endDate: '2026-06-09' }], paris, new Date('2026-05-30T00:00:00Z'), new Date('2026-06-20T00:00:00Z')).map((d) => d.localDate);
  t.same(everyThird, ['2026-06-01', '2026-06-04', '2026-06-07'], 'every N days from startDate until endDate');
});

t.test('a plan in Europe/Paris generates occurrences at the right UTC instants across DST, idempotently', async (t) => {
  const clock = new ManualClock('2026-03-27T23:30:00Z'); // Saturday 28 March, 00:30 in Paris
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const plan = { medications: [{ id: 'm', name: 'Levothyroxine', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'night-morning', medicationId: 'm', times: ['02:30', '08:00'], startDate: '2026-03-01' }] };
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan);
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.match(created.body, { version: 1, timezone: 'Europe/Paris', windows: { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 60 } });
  t.ok(hub.context.schemas.check('http/plan-view', created.body).ok, 'the answer follows schemas/http/plan-view.json');
  const listed = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/doses?from=2026-03-27T00:00:00Z&to=2026-03-31T00:00:00Z`);
  t.ok((listed.body.items as unknown[]).every((item) => hub.context.schemas.check('http/dose-view', item).ok), 'doses follow schemas/http/dose-view.json');

  const spring = await dosesOf(hub, s.clinician, s.patient.id, '2026-03-27T00:00:00Z', '2026-03-31T00:00:00Z');
  t.same(
    spring.map((d) => [d.localDate, d.dueAt]),
    [
      ['2026-03-28', '2026-03-28T01:30:00.000Z'],
      ['2026-03-28', '2026-03-28T07:00:00.000Z'],
      ['2026-03-29', '2026-03-29T01:30:00.000Z'],
      ['2026-03-29', '2026-03-29T06:00:00.000Z'],
      ['2026-03-30', '2026-03-30T00:30:00.000Z'],
      ['2026-03-30', '2026-03-30T06:00:00.000Z'],
    ],
    '72 h ahead: the 02:30 dose of the last Sunday of March moves to 03:30 CEST',
  );

  // Hourly generation extends the horizon and never duplicates.
  const { Occurrence } = hub.features.doses.models;
  for (let hour = 0; hour < 3; hour += 1) {
    clock.advance(HOUR);
    await hub.features.doses.service.generate();
    await hub.features.doses.service.generate();
  }
  const keys = (await Occurrence.find({}).lean()).map((o) => `${o.itemId}@${o.dueAt.toISOString()}`);
  t.equal(new Set(keys).size, keys.length, 'unique (item, dueAt)');

  // Autumn: the clinician changes nothing; time moves to October and the job keeps generating.
  clock.set('2026-10-23T23:30:00Z');
  await hub.features.doses.service.generate();
  const autumn = await dosesOf(hub, s.clinician, s.patient.id, '2026-10-23T22:00:00Z', '2026-10-27T00:00:00Z');
  t.same(
    autumn.map((d) => d.dueAt),
    ['2026-10-24T00:30:00.000Z', '2026-10-24T06:00:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-25T07:00:00.000Z', '2026-10-26T01:30:00.000Z', '2026-10-26T07:00:00.000Z'],
    'the last Sunday of October: 02:30 once (the first), 08:00 on winter time',
  );
});

t.test('times in and around the spring-forward gap stay distinct doses: none is lost to the unique (plan, item, dueAt)', async (t) => {
  const clock = new ManualClock('2026-03-28T20:00:00Z'); // Saturday evening in Paris; the clocks go forward tonight
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const plan = { medications: [{ id: 'm', name: 'Levodopa', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'night', medicationId: 'm', times: ['02:00', '02:30', '03:00'], startDate: '2026-03-01' }] };
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const night = await dosesOf(hub, s.clinician, s.patient.id, '2026-03-28T22:00:00Z', '2026-03-29T12:00:00Z');
  t.same(
    night.map((d) => [d.localDate, d.dueAt]),
    [
      ['2026-03-29', '2026-03-29T00:00:00.000Z'], // 02:00 read after the gap would be 03:00 CEST, which is 03:00's: 01:00 CET
      ['2026-03-29', '2026-03-29T01:00:00.000Z'], // 03:00 CEST
      ['2026-03-29', '2026-03-29T01:30:00.000Z'], // 02:30 → 03:30 CEST
    ],
    'three times, three doses',
  );
});

t.test('a plan\'s widest windows reach the device: what a plan accepts, the device schedule carries', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const widest = { earlyMinutes: 720, lateAfterMinutes: 720, missedAfterMinutes: 1440 };
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, { ...twoMedicationPlan('2026-06-10'), windows: widest });
  t.equal(created.status, 201);
  const schedule = await nextMessage(client, topic(device.id, 'schedule'));
  t.match((schedule.payload.items as Array<Record<string, unknown>>)[0], { window: widest }, 'published, not refused by the device contract');
});

t.test('the device receives the retained schedule with occurrenceIds; a plan change republishes it', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'));
  t.equal(created.status, 201);

  const schedule = await nextMessage(client, topic(device.id, 'schedule'));
  t.equal(schedule.retain, true);
  const items = schedule.payload.items as Array<Record<string, unknown>>;
  t.equal(items.length, 9, '3 doses a day for 72 h');
  t.match(items[0], { slot: 1, pills: 1, dueAt: '2026-06-10T06:00:00.000Z', window: { earlyMinutes: 30, lateAfterMinutes: 30, missedAfterMinutes: 60 } });
  t.match(items[2], { slot: 2, dueAt: '2026-06-10T18:00:00.000Z' });
  const doses = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z');
  t.same(items.map((i) => i.occurrenceId), doses.map((d) => d.id), 'every item carries its occurrenceId');
  t.equal(schedule.payload.timezone, 'Europe/Paris');
  t.equal(schedule.payload.validUntil, '2026-06-13T04:00:00.000Z');

  const changed = twoMedicationPlan('2026-06-10');
  changed.schedule[1]!.times = ['21:00'];
  const next = new Promise<{ payload: Record<string, unknown> }>((resolve) => {
    client.on('message', (name, raw) => {
      const payload = JSON.parse(raw.toString()) as Record<string, unknown>;
      if (name === topic(device.id, 'schedule') && (payload.version as number) > (schedule.payload.version as number)) resolve({ payload });
    });
  });
  const replaced = await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, { ...changed, windows: { earlyMinutes: 15, lateAfterMinutes: 20, missedAfterMinutes: 90 } });
  t.equal(replaced.status, 200);
  t.equal(replaced.body.version, 2);
  const republished = (await next).payload;
  t.ok((republished.version as number) > (schedule.payload.version as number), 'a new version');
  t.match((republished.items as Array<Record<string, unknown>>)[2], { slot: 2, dueAt: '2026-06-10T19:00:00.000Z', window: { earlyMinutes: 15, lateAfterMinutes: 20, missedAfterMinutes: 90 } });
  const after = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z');
  t.equal(after.length, 9, 'old future occurrences replaced, not added to');

  const refused = await as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, { ...changed, schedule: [{ medicationId: 'nope', times: ['08:00'], startDate: '2026-06-10' }] });
  t.equal(refused.status, 400, 'a schedule item must name a medication of the plan');
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, changed)).status, 409, 'one plan per patient: replace it with PUT');
});

t.test('a device moved to another patient holds that patient’s schedule at once, never the previous one’s', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201);
  const schedules: Array<Record<string, unknown>> = [];
  client.on('message', (name, raw) => {
    if (name === topic(device.id, 'schedule')) schedules.push(JSON.parse(raw.toString()) as Record<string, unknown>);
  });
  await client.subscribeAsync(topic(device.id, 'schedule'), { qos: 1 });
  const latest = async (): Promise<Record<string, unknown>> => {
    const stored = await hub.features.devices.models.Device.findById(device.id).lean();
    const version = stored?.schedule?.version;
    return eventually(async () => schedules.find((p) => p.version === version));
  };
  const ids = (schedule: Record<string, unknown>): string[] => (schedule.items as Array<{ occurrenceId: string }>).map((i) => i.occurrenceId);
  const first = await latest();
  t.equal((first.items as unknown[]).length, 9, 'the first patient’s schedule');
  const move = (patientId: string | null) => as(hub, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId });

  t.equal((await move(s.otherPatient.id)).status, 200);
  const emptied = await latest();
  t.ok((emptied.version as number) > (first.version as number), 'a new version, published as soon as the device moved');
  t.same(emptied.items, [], 'the new patient has no plan: an empty schedule, not the previous patient’s doses');

  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.otherPatient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201);
  const theirs = await latest();
  const otherDoses = await dosesOf(hub, s.clinician, s.otherPatient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z');
  t.same(ids(theirs), otherDoses.map((d) => d.id), 'a plan for the new patient reaches it');

  t.equal((await move(s.patient.id)).status, 200);
  const back = await latest();
  const firstDoses = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z');
  t.same(ids(back), firstDoses.map((d) => d.id), 'moved back: the first patient’s schedule again, at once');
  t.notOk((await hub.features.devices.models.Device.findById(device.id).lean())?.schedule?.owed, 'nothing owed');

  // The hourly job read the device while it was the other patient's, and publishes after it moved back: nothing.
  const asReadBefore = await hub.features.devices.models.Device.findById(device.id).lean();
  const otherPatient = await hub.features.identity.models.Patient.findById(s.otherPatient.id).lean();
  t.equal(await hub.features.doses.service.publishSchedules(otherPatient as NonNullable<typeof otherPatient>, [asReadBefore as NonNullable<typeof asReadBefore>]), 0, 'a schedule for a patient the device no longer belongs to is not published');
  t.same(ids(await latest()), firstDoses.map((d) => d.id), 'the device keeps its own patient’s');

  t.equal((await move(null)).status, 200);
  t.same((await latest()).items, [], 'unassigned: an empty schedule');

  // A move whose schedule was not published (the store failed halfway) is caught up by the hourly job.
  const before = (await latest()).version as number;
  await hub.features.devices.models.Device.updateOne({ _id: device.id }, { $set: { patientId: s.otherPatient.id, 'schedule.owed': true } });
  await hub.features.doses.service.generate();
  const caughtUp = await latest();
  t.ok((caughtUp.version as number) > before, 'the hourly job publishes what a moved device is owed');
  t.same(ids(caughtUp), otherDoses.map((d) => d.id), 'its new patient’s schedule');
  t.notOk((await hub.features.devices.models.Device.findById(device.id).lean())?.schedule?.owed, 'and it is owed nothing more');
});

t.test('access: outsiders see nothing, caregivers read and confirm but cannot edit', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const path = `/patients/${s.patient.id}/medication-plans`;
  t.equal((await as(hub, s.clinician, 'GET', path)).status, 404, 'no plan yet');
  t.equal((await as(hub, s.caregiver, 'POST', path, twoMedicationPlan('2026-06-10'))).status, 403, 'a caregiver cannot write a plan');
  t.equal((await as(hub, s.clinician, 'POST', path, twoMedicationPlan('2026-06-10'))).status, 201);
  t.equal((await as(hub, s.caregiver, 'GET', path)).status, 200, 'a caregiver reads it');
  t.equal((await as(hub, s.caregiver, 'PUT', path, twoMedicationPlan('2026-06-10'))).status, 403, 'a caregiver cannot edit a plan');
  t.equal((await as(hub, s.patientUser, 'PUT', path, twoMedicationPlan('2026-06-10'))).status, 403, 'nor can the patient');
  for (const route of [path, `/patients/${s.patient.id}/doses`, `/patients/${s.patient.id}/adherence`]) {
    t.equal((await as(hub, s.outsider, 'GET', route)).status, 404, `outsider: ${route} is 404`);
  }
  const [first] = await dosesOf(hub, s.caregiver, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  t.equal((await as(hub, s.outsider, 'POST', `/patients/${s.patient.id}/doses/${first!.id}/confirm`, {})).status, 404, 'an outsider cannot confirm');
  t.equal((await as(hub, s.caregiver, 'POST', `/patients/${s.otherPatient.id}/doses/${first!.id}/confirm`, {})).status, 404, 'nor through another patient');

  clock.set('2026-06-10T06:10:00Z');
  const confirmed = await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${first!.id}/confirm`, {});
  t.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  t.match(confirmed.body, { state: 'taken', source: 'confirmation', takenAt: '2026-06-10T06:10:00.000Z' });
  const audit = await hub.features.identity.audit.model.find({ action: 'dose.confirm', objectId: first!.id }).lean();
  t.same(audit.map((a) => a.outcome).sort(), ['allowed', 'denied', 'denied'], 'confirmations are audited, refusals too');
});
