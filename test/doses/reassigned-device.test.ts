/**
 * A dispenser moved from one patient to another still holds events of its first patient in its
 * outbox. Those events name the first patient's doses by occurrenceId: they must never land on
 * the new patient's doses by slot and time, nor take the new patient's stock.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { eventually } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf, onlineDevice, sendEvent, startDoseHub, stateOf, twoMedicationPlan } from './helpers.js';

const DAY_FROM = '2026-06-10T00:00:00Z';
const DAY_TO = '2026-06-11T00:00:00Z';
const MORNING = '2026-06-10T06:00:00.000Z'; // 08:00 Paris

t.test('queued events of the previous patient name no dose of the new one and take none of their stock', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  for (const patient of [s.patient, s.otherPatient]) t.equal((await as(hub, s.clinician, 'POST', `/patients/${patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201);
  const morningOf = async (patientId: string) => (await dosesOf(hub, s.clinician, patientId, DAY_FROM, DAY_TO)).find((d) => d.dueAt === MORNING && d.slot === 1) as { id: string };
  const aMorning = await morningOf(s.patient.id);
  const bMorning = await morningOf(s.otherPatient.id);
  const stockOf = async (patientId: string) => ((await as(hub, s.clinician, 'GET', `/patients/${patientId}/medication-plans`)).body.medications as Array<{ id: string; stock: number }>).find((m) => m.id === 'metformin')?.stock;

  // Moved to Bob at 08:20, before its outbox (Alice's 08:00 dose, dispensed and taken) reached the hub.
  clock.set('2026-06-10T06:20:00Z');
  await hub.features.doses.service.sweep();
  t.equal((await as(hub, s.clinician, 'PATCH', `/devices/${device.id}`, { patientId: s.otherPatient.id })).status, 200);
  await eventually(async () => String((await hub.features.devices.models.Device.findById(device.id).lean())?.patientId) === s.otherPatient.id);
  const { DeviceEvent } = hub.features.devices.models;
  const stored = async () => DeviceEvent.countDocuments({ deviceId: device.id, type: /^dose\./ });
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: '2026-06-10T06:00:00Z', slot: 1, pills: 1, trigger: 'schedule', dueAt: MORNING, occurrenceId: aMorning.id });
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: '2026-06-10T06:05:00Z', slot: 1, pills: 1, dueAt: MORNING, occurrenceId: aMorning.id });
  // An occurrenceId nobody has (a forged or long-deleted dose) names no dose either.
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: '2026-06-10T06:10:00Z', slot: 1, pills: 1, trigger: 'schedule', dueAt: MORNING, occurrenceId: '0123456789abcdef01234567' });
  // QoS 1: the PUBACK comes once the hub has acted on each event.
  await eventually(async () => (await stored()) === 3);
  t.equal(await stored(), 3, 'the events are stored');

  t.equal(await stateOf(hub, bMorning.id), 'due', 'Bob’s 08:00 dose is not taken by Alice’s events');
  t.match(await hub.features.doses.models.Occurrence.findById(bMorning.id).lean(), { dispensedAt: null }, 'nor dispensed');
  t.equal(await stockOf(s.otherPatient.id), 60, 'Bob’s stock is untouched');
  t.equal(await stockOf(s.patient.id), 60, 'and Alice’s too (the device is no longer hers)');

  // Older firmware names no dose: Alice's events still carry their own time, before the move.
  const slotOnly = randomUUID();
  await sendEvent(client, device.id, { eventId: slotOnly, type: 'dose.dispensed', at: '2026-06-10T06:00:30Z', slot: 1, pills: 1, trigger: 'schedule', dueAt: MORNING });
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: '2026-06-10T06:05:30Z', slot: 1, pills: 1, dueAt: MORNING });
  await eventually(async () => (await stored()) === 5);
  t.equal(await stateOf(hub, bMorning.id), 'due', 'events dated before the move do not take Bob’s dose by slot');
  t.equal(await stockOf(s.otherPatient.id), 60, 'nor his stock');
  t.equal((await DeviceEvent.findOne({ eventId: slotOnly }).lean())?.patientId ?? null, null, 'stored as nobody’s (a resend or the recovery sweep then acts the same)');

  // Bob's own events still name his doses: by occurrenceId, and by slot and dueAt.
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: '2026-06-10T06:21:00Z', slot: 1, pills: 1, trigger: 'schedule', dueAt: MORNING, occurrenceId: bMorning.id });
  await eventually(async () => (await stockOf(s.otherPatient.id)) === 59);
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: '2026-06-10T06:22:00Z', slot: 1, pills: 1, dueAt: MORNING });
  await eventually(async () => (await stateOf(hub, bMorning.id)) === 'taken');
  t.equal(await stateOf(hub, bMorning.id), 'taken', 'Bob’s own dose.taken (by slot) settles his dose');
});
