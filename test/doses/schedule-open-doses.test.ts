/**
 * A republished device schedule keeps every dose still open: a plan's window may stay open up to
 * 24 h after dueAt, and a device drops a planned dose that a new schedule leaves out.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { nextMessage, topic } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, onlineDevice, startDoseHub, stateOf } from './helpers.js';

const plan = (times: string[]) => ({
  windows: { lateAfterMinutes: 60, missedAfterMinutes: 240 },
  medications: [{ id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1, stock: 30 }],
  schedule: [{ id: 'daily', medicationId: 'warfarin', times, startDate: '2026-06-10' }],
});

t.test('a schedule republished 2.5 h after a dose with a 4 h window still holds that dose', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z'); // 07:00 Paris
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const path = `/patients/${s.patient.id}/medication-plans`;
  t.equal((await as(hub, s.clinician, 'POST', path, plan(['08:00']))).status, 201);
  const morning = await hub.features.doses.models.Occurrence.findOne({ patientId: s.patient.id, dueAt: new Date('2026-06-10T06:00:00Z') }).lean();
  t.ok(morning, 'the 08:00 dose exists');

  clock.set('2026-06-10T08:30:00Z'); // 10:30 Paris: the 08:00 dose is open until 12:00
  await hub.features.doses.service.sweep();
  t.equal(await stateOf(hub, String(morning?._id)), 'due');
  // The clinician adds an evening time: the plan's doses are rebuilt and the schedule republished.
  const put = await as(hub, s.clinician, 'PUT', path, plan(['08:00', '20:00']));
  t.equal(put.status, 200);

  const schedule = await nextMessage(client, topic(device.id, 'schedule'));
  const items = schedule.payload.items as Array<{ occurrenceId: string; dueAt: string; window: { missedAfterMinutes: number } }>;
  t.ok(items.some((i) => i.dueAt === '2026-06-10T18:00:00.000Z'), 'the new evening dose is there');
  t.match(
    items.find((i) => i.occurrenceId === String(morning?._id)),
    { dueAt: '2026-06-10T06:00:00.000Z', window: { missedAfterMinutes: 240 } },
    'and so is the 08:00 dose, still open',
  );
  t.same(items.map((i) => i.dueAt), [...items.map((i) => i.dueAt)].sort(), 'in dueAt order');

  // Once its window has closed, a new schedule leaves it out.
  clock.set('2026-06-10T10:01:00Z');
  await hub.features.doses.service.sweep();
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(['08:00', '21:00']))).status, 200);
  const later = await nextMessage(client, topic(device.id, 'schedule'));
  t.notOk((later.payload.items as Array<{ occurrenceId: string }>).some((i) => i.occurrenceId === String(morning?._id)), 'a closed dose is not republished');
});
