/**
 * Doses dispensed by a dispense_now command are extra doses: their events carry a commandId and
 * no occurrenceId, and must never be matched to a scheduled dose by slot and time.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { eventually } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf, MIN, onlineDevice, sendEvent, startDoseHub } from './helpers.js';

const DAY_FROM = '2026-06-10T00:00:00Z';
const DAY_TO = '2026-06-11T00:00:00Z';
const plan = {
  medications: [{ id: 'warfarin', name: 'Warfarin', slot: 1, pillsPerDose: 1, stock: 30, criticality: 'critical' }],
  schedule: [{ id: 'morning', medicationId: 'warfarin', times: ['08:00'], startDate: '2026-06-10' }],
};

t.test('events of a commanded dose leave the scheduled dose of the same slot alone', async (t) => {
  // 05:00 in Paris; the scheduled dose is due at 08:00 (06:00Z).
  const clock = new ManualClock('2026-06-10T03:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan)).status, 201);
  const [scheduled] = (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)) as [Record<string, unknown>];
  const stock = async () => ((await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/medication-plans`)).body.medications as Array<{ stock: number }>)[0]!.stock;

  // An extra dose dispensed on command at 07:30 local, not taken: the device reports it missed at 07:40.
  const commandId = randomUUID();
  clock.set('2026-06-10T05:30:00Z');
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'command', commandId });
  await eventually(async () => (await stock()) === 29);
  clock.set('2026-06-10T05:40:00Z');
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.missed', at: clock.now().toISOString(), slot: 1, pills: 1, reason: 'not_taken', commandId });
  // A second commanded dose, taken at 07:50: not the 08:00 dose either.
  clock.set('2026-06-10T05:50:00Z');
  // QoS 1: the PUBACK (which sendEvent awaits) comes once the hub has acted on the event.
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: clock.now().toISOString(), slot: 1, pills: 1, commandId: randomUUID() });

  t.match((await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO))[0], { id: scheduled.id, state: 'scheduled', takenAt: null, dispensedAt: null, evidence: null }, 'the 08:00 dose is untouched');
  t.same(await hub.features.alerts.models.Alert.find({ patientId: s.patient.id }).lean(), [], 'no dose.missed raised for a dose not even due');
  t.equal(await stock(), 29, 'the commanded dispense still took its pill off the stock');

  // The scheduled dose lives its own life: taken on time by the device.
  clock.set(new Date(Date.parse(scheduled.dueAt as string) + 5 * MIN));
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: clock.now().toISOString(), slot: 1, pills: 1, dueAt: scheduled.dueAt });
  await eventually(async () => (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO))[0]?.state === 'taken');
});
