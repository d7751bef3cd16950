/**
 * Two writers on the same doses, made to meet deterministically: one store call of the first is
 * held at the driver (the mongoose collection the model writes through) while the second runs.
 *  - a confirmation read the dose due; the sweep makes it missed (and alerted) before the
 *    confirmation's write: the dose.missed alert must still be resolved;
 *  - the hourly generation read a plan; a PUT replaces it before the generation's write: the old
 *    plan's doses must not come back.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf, holdNext, HOUR, MIN, startDoseHub } from './helpers.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a confirmation that loses the race with the sweep still resolves the dose.missed alert', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub); // no dispenser: the sweep calls an unconfirmed dose missed
  const plan = { medications: [{ id: 'm', name: 'Metformin', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'i', medicationId: 'm', times: ['08:00'], startDate: '2026-06-10' }] };
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const [dose] = (await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z')) as [Record<string, unknown>];
  const dueAt = Date.parse(dose.dueAt as string);
  clock.set(new Date(dueAt));
  await hub.features.doses.service.sweep();
  clock.set(new Date(dueAt + 59 * MIN));
  await hub.features.doses.service.sweep();

  // The confirmation reads the dose (due), and its write waits while the window closes.
  const write = holdNext(hub, 'findOneAndUpdate', ([, update]) => ['taken', 'late'].includes((update as { $set?: { state?: string } }).$set?.state ?? ''));
  const confirm = as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${dose.id as string}/confirm`, {});
  await write.reached;
  clock.set(new Date(dueAt + 60 * MIN));
  t.match(await hub.features.doses.service.sweep(), { missed: 1 }, 'the sweep makes it missed meanwhile');
  const cause = `dose.missed:${dose.id as string}`;
  t.match(await hub.features.alerts.models.Alert.findOne({ cause }).lean(), { status: 'active' }, 'and raises dose.missed');
  write.release();

  const confirmed = await confirm;
  t.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  t.equal(confirmed.body.state, 'late', 'the confirmation reconciles the missed dose');
  t.match(await hub.features.alerts.models.Alert.findOne({ cause }).lean(), { status: 'resolved', resolved: { auto: true, note: 'taken late' } }, 'and resolves its alert');
});

t.test('the hourly generation that read a plan replaced meanwhile does not bring the old plan’s doses back', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const plan = (time: string) => ({ medications: [{ id: 'm', name: 'Metformin', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'i', medicationId: 'm', times: [time], startDate: '2026-06-10' }] });
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan('08:00'))).status, 201);
  // Four hours on, the horizon has four hours to catch up: 13 June 04:00Z–08:00Z, which holds 13 June 08:00 Paris (06:00Z).
  clock.advance(4 * HOUR);

  const write = holdNext(hub, 'bulkWrite', () => true);
  const generation = hub.features.doses.service.generate();
  await write.reached;
  const put = as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan('09:00'));
  // The PUT runs to its end meanwhile, unless the hub makes it wait for the generation: either way, then the generation writes.
  await Promise.race([put, delay(1500)]);
  write.release();
  await generation;
  t.equal((await put).status, 200);

  const doses = await dosesOf(hub, s.clinician, s.patient.id, clock.now().toISOString(), '2026-06-14T00:00:00Z');
  t.ok(doses.length >= 3, `${doses.length} doses ahead`);
  t.same(
    doses.filter((d) => !(d.dueAt as string).endsWith('T07:00:00.000Z')).map((d) => d.dueAt),
    [],
    'every dose ahead at 09:00 Paris (07:00Z): none of the replaced plan’s 08:00',
  );
});
