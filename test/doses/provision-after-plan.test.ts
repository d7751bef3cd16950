/**
 * A dispenser provisioned for a patient who already has a plan gets that plan's schedule (retained)
 * before it first connects — it did not until the plan next changed or the daily republish, so a
 * new dispenser dispensed nothing. One provisioned for a patient without a plan gets nothing yet.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { connectDevice, nextMessage, provisionDevice, topic } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, startDoseHub, twoMedicationPlan } from './helpers.js';

t.test('a dispenser provisioned after its patient’s plan gets the plan’s schedule at its first connection', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201);

  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  t.equal((device as unknown as { schedule: { version: number } }).schedule.version, 1, 'the provisioning answer names the schedule it was given');
  const client = await connectDevice(t, hub, device);
  const schedule = await nextMessage(client, topic(device.id, 'schedule'));
  t.equal(schedule.retain, true);
  t.ok((schedule.payload.items as unknown[]).length > 0, 'with the plan’s doses');
  t.equal(((await hub.features.devices.models.Device.findById(device.id).lean())?.schedule as { owed?: boolean }).owed, false, 'nothing is owed');

  const spare = await provisionDevice(hub, s.clinician, { patientId: s.otherPatient.id });
  t.equal((spare as unknown as { schedule: { version: number } }).schedule.version, 0, 'a patient without a plan: nothing to publish yet');
});
