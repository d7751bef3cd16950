/**
 * Two writers on the same doses, made to meet deterministically: one store call of the first is
 * held at the driver (the mongoose collection the model writes through) while the second runs.
 *  - a confirmation read the dose due; the sweep makes it missed (and alerted) before the
 *    confirmation's write: the dose.missed alert must still be resolved;
 *  - the sweep read a dose as becoming due; it is confirmed before the sweep's write: the care
 *    team must not be told it is due after being told it was taken;
 *  - the hourly generation read a plan; a PUT replaces it before the generation's write: the old
 *    plan's doses must not come back.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent } from '../helpers/clients.js';
import { careScenario, currentToken } from '../helpers/factories.js';
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

t.test('a dose confirmed while the sweep makes it due is not announced as due; its companion is', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const plan = {
    medications: [
      { id: 'm', name: 'Metformin', slot: 1, pillsPerDose: 1 },
      { id: 'r', name: 'Ramipril', slot: 2, pillsPerDose: 1 },
    ],
    schedule: [
      { id: 'i', medicationId: 'm', times: ['08:00'], startDate: '2026-06-10' },
      { id: 'j', medicationId: 'r', times: ['08:00'], startDate: '2026-06-10' },
    ],
  };
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const doses = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  t.equal(doses.length, 2, 'two doses at 08:00');
  const [confirmedDose, companion] = doses as [Record<string, unknown>, Record<string, unknown>];
  const watcher = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  const told = new Map<unknown, string[]>(doses.map((dose) => [dose.id, []]));
  watcher.on('dose:updated', (update: Record<string, unknown>) => told.get(update.id)?.push(update.state as string));

  clock.set(new Date(Date.parse(confirmedDose.dueAt as string) + 1000));
  // The sweep has read both doses as becoming due; its write waits while the caregiver confirms one.
  const write = holdNext(hub, 'updateMany', ([, update]) => (update as { $set?: { state?: string } }).$set?.state === 'due');
  const sweep = hub.features.doses.service.sweep();
  await write.reached;
  const confirmed = await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${confirmedDose.id as string}/confirm`, {});
  t.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  t.equal(confirmed.body.state, 'taken');
  write.release();
  t.match(await sweep, { due: 1 }, 'the sweep made one dose due');

  // Events reach a socket in the order they were sent: once this ack is back, the sweep's are too.
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });
  t.same(told.get(confirmedDose.id), ['taken'], 'the care team heard the confirmed dose was taken, and nothing after');
  t.same(told.get(companion.id), ['due'], 'and that the other one is due');
  const stored = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z');
  t.same(stored.map((dose) => [dose.id, dose.state]), [[confirmedDose.id, 'taken'], [companion.id, 'due']], 'as stored');
});
