/**
 * Plan work of one patient on two hub instances: each instance serialises its own, so rebuilds and
 * the hourly generation meet only at the store. One store call of the first instance is held while
 * the second runs to its end; the first's doses, derived from what it read, must not outlive it.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf, holdNext, HOUR, secondInstance, startDoseHub } from './helpers.js';

const plan = (time: string) => ({ medications: [{ id: 'm', name: 'Metformin', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'i', medicationId: 'm', times: [time], startDate: '2026-06-10' }] });

t.test('a rebuild overtaken by a newer plan’s rebuild on another instance runs again: the older plan’s doses do not stay', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z'); // 06:00 Paris
  const hub = await startDoseHub(t, clock);
  const other = secondInstance(hub);
  const s = await careScenario(hub);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan('08:00'))).status, 201);

  // Here: a PUT to 09:00, its rebuild held as it inserts the 09:00 doses.
  const insert = holdNext(hub, 'bulkWrite', () => true);
  const put = as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('09:00'));
  await insert.reached;
  // There: a PUT to 10:00 (version + 1), rebuilt to its end.
  const { Plan } = hub.features.doses.models;
  await Plan.updateOne({ patientId: s.patient.id }, { $set: { 'schedule.0.times': ['10:00'] }, $inc: { version: 1 } });
  await other.followTimezone(s.patient.id);
  t.ok((await dosesOf(hub, s.clinician, s.patient.id, clock.now().toISOString(), '2026-06-14T00:00:00Z')).every((d) => (d.dueAt as string).endsWith('T08:00:00.000Z')), 'the other instance laid out 10:00');
  insert.release();
  t.equal((await put).status, 200);

  const doses = await dosesOf(hub, s.clinician, s.patient.id, clock.now().toISOString(), '2026-06-14T00:00:00Z');
  t.ok(doses.length >= 3, `${doses.length} doses ahead`);
  t.same(doses.filter((d) => !(d.dueAt as string).endsWith('T08:00:00.000Z')).map((d) => d.dueAt), [], 'every dose ahead at 10:00 Paris (08:00Z): none of the overtaken 09:00');
  t.has(await Plan.findOne({ patientId: s.patient.id }).lean(), { generatedUntil: new Date(clock.now().getTime() + 72 * HOUR) }, 'generation goes on from the rebuild’s horizon');
});

t.test('an hourly generation that read the old zone while another instance moved the doses to the new one rebuilds', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const other = secondInstance(hub);
  const s = await careScenario(hub);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan('08:00'))).status, 201);
  // Four hours on, the horizon has 13 June 04:00Z–08:00Z to catch up, which holds 13 June 08:00 Paris (06:00Z).
  clock.advance(4 * HOUR);

  const insert = holdNext(hub, 'bulkWrite', () => true);
  const generation = hub.features.doses.service.generate();
  await insert.reached;
  // There: the patient moved to Tokyo; that instance moved the doses (the plan's version stays).
  await hub.features.identity.models.Patient.updateOne({ _id: s.patient.id }, { $set: { timezone: 'Asia/Tokyo' } });
  await other.followTimezone(s.patient.id);
  insert.release();
  await generation;

  const doses = await dosesOf(hub, s.clinician, s.patient.id, clock.now().toISOString(), '2026-06-14T00:00:00Z');
  t.ok(doses.length >= 3, `${doses.length} doses ahead`);
  t.same(doses.filter((d) => !(d.dueAt as string).endsWith('T23:00:00.000Z')).map((d) => d.dueAt), [], 'every dose ahead at 08:00 Tokyo (23:00Z): none at 08:00 Paris');
});
