/**
 * The sweep raises the alerts of every dose it finds missed with one bulk
 * raise: several patients' doses closing in the same minute give one alert
 * each (a critical medication's a tier up), announced once each on the care
 * team's socket, with a single insert into the alerts collection.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, type AnyBody } from '../helpers/clients.js';
import { addToCareTeam, careScenario, createPatient, login } from '../helpers/factories.js';
import { as, startDoseHub } from './helpers.js';

const plan = (critical: boolean) => ({
  medications: [{ id: 'med', name: 'Metformin', slot: 1, pillsPerDose: 1, criticality: critical ? 'critical' : 'normal' }],
  schedule: [{ id: 'morning', medicationId: 'med', times: ['08:00'], startDate: '2026-06-10' }],
});

/** The store commands sent while `run` runs, as `command:collection`. */
async function commandsDuring(hub: Hub, run: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const client = hub.context.store.connection.getClient();
  const listener = (event: { commandName: string; command: Record<string, unknown> }): void => void seen.push(`${event.commandName}:${String(event.command[event.commandName])}`);
  client.on('commandStarted', listener);
  try {
    await run();
  } finally {
    client.off('commandStarted', listener);
  }
  return seen;
}

t.test('doses of several patients missed in the same minute: one alert each, raised in one batch', async (t) => {
  // 06:00 in Paris; every dose is at 08:00 Paris (06:00Z) and closes at 07:00Z.
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const patients = [s.patient.id];
  for (let i = 0; i < 3; i += 1) {
    const patient = await createPatient(hub, s.clinician, { name: `Patient ${i}` });
    await addToCareTeam(hub, s.clinician, patient.id, s.caregiver.userId, 1);
    patients.push(patient.id);
  }
  for (const [index, patientId] of patients.entries()) {
    const created = await as(hub, s.clinician, 'POST', `/patients/${patientId}/medication-plans`, plan(index === 0));
    if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  }
  const watcher = connectSocket(t, hub, { auth: { token: (await login(hub, s.caregiver.email)).token } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) });
  const raised: AnyBody[] = [];
  watcher.on('alert:raised', (alert: AnyBody) => raised.push(alert));

  clock.set('2026-06-10T06:00:00Z');
  t.match(await hub.features.doses.service.sweep(), { due: 4 });
  clock.set('2026-06-10T07:00:00Z');
  let result: unknown;
  const commands = await commandsDuring(hub, async () => (result = await hub.features.doses.service.sweep()));
  t.match(result, { missed: 4, unknown: 0 }, 'no device: missed for want of a confirmation');
  t.equal(commands.filter((c) => c === 'insert:alerts').length, 1, 'the alerts are stored with one insert');

  const alerts = await hub.features.alerts.models.Alert.find({ type: 'dose.missed' }).lean();
  t.equal(alerts.length, 4, 'one alert per missed dose');
  t.same(alerts.map((a) => String(a.patientId)).sort(), [...patients].sort());
  const critical = alerts.find((a) => String(a.patientId) === s.patient.id);
  t.match(critical, { severity: 'critical', tier: 1 }, 'a critical medication starts a tier up');
  t.ok(alerts.filter((a) => a !== critical).every((a) => a.severity === 'warning' && a.tier === 0));
  const occurrences = await hub.features.doses.models.Occurrence.find({ state: 'missed' }).lean();
  t.ok(occurrences.length === 4 && occurrences.every((o) => o.alertedAt), 'every missed dose marked alerted');
  t.same(alerts.map((a) => a.cause).sort(), occurrences.map((o) => `dose.missed:${String(o._id)}`).sort());

  const deadline = Date.now() + 5000;
  while (raised.length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(raised.map((a) => a.id).sort(), alerts.map((a) => String(a._id)).sort(), 'one alert:raised per alert on the caregiver socket');

  clock.set('2026-06-10T07:01:00Z');
  await hub.features.doses.service.sweep();
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'dose.missed' }), 4, 'a later sweep raises nothing again');
});
