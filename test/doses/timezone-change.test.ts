/**
 * A patient's time zone changes (PATCH /patients/{id}): the doses not yet decided move to the new
 * zone's wall-clock times, the dispensers get the new schedule and zone, and the doses already
 * decided stay as they were.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { eventually, topic } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf, HOUR, onlineDevice, sendEvent, startDoseHub } from './helpers.js';

const plan = { medications: [{ id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1 }], schedule: [{ id: 'morning', medicationId: 'warfarin', times: ['08:00'], startDate: '2026-06-01' }] };
const summary = (doses: Array<Record<string, unknown>>) => doses.map((d) => `${d.localDate as string} ${d.dueAt as string} ${d.state as string}`);

t.test('a time-zone change moves the undecided doses to the new zone and republishes the device schedule with it', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z'); // 06:00 in Paris
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const schedules: Array<Record<string, unknown>> = [];
  client.on('message', (name, raw) => {
    if (name === topic(device.id, 'schedule')) schedules.push(JSON.parse(raw.toString()) as Record<string, unknown>);
  });
  await client.subscribeAsync(topic(device.id, 'schedule'), { qos: 1 });
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const [today] = (await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-11T00:00:00Z')) as [Record<string, unknown>];
  clock.set('2026-06-10T06:05:00Z');
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: clock.now().toISOString(), slot: 1, pills: 1, dueAt: today.dueAt, occurrenceId: today.id });

  // 09:00 in Paris: the patient now lives in New York (03:00 there).
  clock.set('2026-06-10T07:00:00Z');
  const patched = await as(hub, s.clinician, 'PATCH', `/patients/${s.patient.id}`, { timezone: 'America/New_York' });
  t.equal(patched.status, 200, JSON.stringify(patched.body));
  t.same(
    summary(await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z')),
    ['2026-06-10 2026-06-10T06:00:00.000Z taken', '2026-06-11 2026-06-11T12:00:00.000Z scheduled', '2026-06-12 2026-06-12T12:00:00.000Z scheduled'],
    'the dose taken today stays (and stands for today’s); the next ones, up to now + 72 h, at 08:00 EDT (12:00Z)',
  );
  const stored = await hub.features.devices.models.Device.findById(device.id).lean();
  const latest = await eventually(async () => schedules.find((p) => p.version === stored?.schedule?.version));
  t.equal(latest.timezone, 'America/New_York', 'the device schedule carries the new zone');
  t.same((latest.items as Array<{ dueAt: string }>).map((i) => i.dueAt), ['2026-06-11T12:00:00.000Z', '2026-06-12T12:00:00.000Z']);
  t.equal((await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/medication-plans`)).body.timezone, 'America/New_York', 'the plan follows the patient’s zone');

  // The hourly job goes on in the new zone.
  for (let hour = 0; hour < 30; hour += 1) {
    clock.advance(HOUR);
    await hub.features.doses.service.generate();
  }
  const later = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-11T00:00:00Z', '2026-06-16T00:00:00Z');
  t.ok(later.length >= 4 && later.every((d) => (d.dueAt as string).endsWith('T12:00:00.000Z')), 'every later dose at 08:00 in New York');
});

t.test('the hourly job rebuilds doses whose plan is behind the patient’s zone (a change whose rebuild did not happen)', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  // As if another instance stored the change and failed before the doses followed.
  await hub.features.identity.models.Patient.updateOne({ _id: s.patient.id }, { $set: { timezone: 'Asia/Tokyo' } });
  clock.advance(2 * HOUR);
  await hub.features.doses.service.generate();
  const doses = await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-14T00:00:00Z');
  t.ok(doses.length >= 2 && doses.every((d) => (d.dueAt as string).endsWith('T23:00:00.000Z')), `08:00 in Tokyo (23:00Z the day before): ${summary(doses).join(', ')}`);
});
