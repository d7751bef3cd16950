/**
 * The sweep raises the alerts of every dose it finds missed with one bulk
 * raise: several patients' doses closing in the same minute give one alert
 * each (a critical medication's a tier up), announced once each on the care
 * team's socket, with a single insert into the alerts collection. Doses past
 * their on-time window get a dose.late (info), raised the same way, resolved
 * by a confirmation or, in one bulk write, when dose.missed takes over.
 */
import { Types } from 'mongoose';
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import type { Hub } from '../../src/hub.js';
import { connectSocket, nextEvent, roomsJoined, type AnyBody } from '../helpers/clients.js';
import { addToCareTeam, careScenario, createPatient, currentToken } from '../helpers/factories.js';
import { storeCommandsDuring } from '../helpers/hub.js';
import { as, startDoseHub } from './helpers.js';

const plan = (critical: boolean) => ({
  medications: [{ id: 'med', name: 'Metformin', slot: 1, pillsPerDose: 1, criticality: critical ? 'critical' : 'normal' }],
  schedule: [{ id: 'morning', medicationId: 'med', times: ['08:00'], startDate: '2026-06-10' }],
});

/** The store commands sent while `run` runs, as `command:collection`. */
async function commandsDuring(hub: Hub, run: () => Promise<unknown>): Promise<string[]> {
  return (await storeCommandsDuring(hub, run)).map(({ command, collection }) => `${command}:${String(collection)}`);
}

/** Four patients without a dispenser (their doses are confirmed by people), each with one dose at 08:00 Paris (06:00Z), late at 06:30Z, closing at 07:00Z; the first one's medication is critical. */
async function fourPatients(t: Test) {
  // 06:00 in Paris.
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
  const watcher = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) });
  await roomsJoined(hub, watcher);
  const raised: AnyBody[] = [];
  watcher.on('alert:raised', (alert: AnyBody) => raised.push(alert));
  const updated: AnyBody[] = [];
  watcher.on('alert:updated', (alert: AnyBody) => updated.push(alert));
  return { clock, hub, s, patients, raised, updated };
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

t.test('doses of several patients missed in the same minute: one alert each, raised in one batch', async (t) => {
  const { clock, hub, s, patients, raised } = await fourPatients(t);
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

  await until(() => raised.length >= 4);
  t.same(raised.map((a) => a.id).sort(), alerts.map((a) => String(a._id)).sort(), 'one alert:raised per alert on the caregiver socket');

  clock.set('2026-06-10T07:01:00Z');
  await hub.features.doses.service.sweep();
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'dose.missed' }), 4, 'a later sweep raises nothing again');
});

t.test('dose.late: raised in one batch past the on-time window, resolved by a confirmation or when dose.missed takes over', async (t) => {
  const { clock, hub, s, patients, raised, updated } = await fourPatients(t);
  const { Alert } = hub.features.alerts.models;
  // As if generated before lateMinute existed: the first sweep of the process fills it in.
  await hub.features.doses.models.Occurrence.updateMany({}, { $unset: { lateMinute: 1 } });
  clock.set('2026-06-10T06:00:00Z');
  await hub.features.doses.service.sweep();
  t.equal(await hub.features.doses.models.Occurrence.countDocuments({ lateMinute: Date.parse('2026-06-10T06:30:00Z') / 60_000 }), 4, 'lateMinute filled in (06:30Z)');
  clock.set('2026-06-10T06:29:00Z');
  t.match(await hub.features.doses.service.sweep(), { late: 0 }, 'on time for another minute');

  clock.set('2026-06-10T06:30:00Z');
  let result: unknown;
  const lateCommands = await commandsDuring(hub, async () => (result = await hub.features.doses.service.sweep()));
  t.match(result, { late: 4, missed: 0 });
  t.equal(lateCommands.filter((c) => c === 'insert:alerts').length, 1, 'raised with one insert');
  const late = await Alert.find({ type: 'dose.late' }).lean();
  t.equal(late.length, 4);
  t.ok(late.every((a) => a.severity === 'info' && a.status === 'active' && a.tier === 0), 'info, whatever the medication');
  const occurrences = await hub.features.doses.models.Occurrence.find({ dueAt: new Date('2026-06-10T06:00:00Z') }).lean();
  t.equal(occurrences.length, 4);
  t.ok(occurrences.every((o) => o.state === 'due' && o.lateAlertedAt), 'still due, and marked');
  await until(() => raised.filter((a) => a.type === 'dose.late').length >= 4);
  t.equal(raised.filter((a) => a.type === 'dose.late').length, 4, 'one alert:raised each');
  clock.set('2026-06-10T06:31:00Z');
  t.match(await hub.features.doses.service.sweep(), { late: 0 }, 'the overlapping minutes raise nothing again');

  // A caregiver confirms the first patient's dose: taken late, and its dose.late resolved.
  const first = occurrences.find((o) => String(o.patientId) === patients[0]);
  const confirmed = await as(hub, s.caregiver, 'POST', `/patients/${patients[0] as string}/doses/${String(first?._id)}/confirm`, {});
  t.equal(confirmed.status, 200);
  t.equal(confirmed.body.state, 'late');
  t.match(await Alert.findOne({ cause: `dose.late:${String(first?._id)}` }).lean(), { status: 'resolved', resolved: { auto: true, by: null, note: 'taken' } });

  clock.set('2026-06-10T07:00:00Z');
  const closeCommands = await commandsDuring(hub, async () => (result = await hub.features.doses.service.sweep()));
  t.match(result, { missed: 3, late: 0 });
  t.equal(closeCommands.filter((c) => c === 'update:alerts').length, 2, 'two writes: the new dose.missed marked as told (raise.ts markTold), the three dose.late resolved');
  const after = await Alert.find({}).lean();
  t.equal(after.filter((a) => a.type === 'dose.missed' && a.status === 'active').length, 3, 'dose.missed for the three others');
  t.same(
    after.filter((a) => a.type === 'dose.late').map((a) => [a.status, a.resolved?.note]).sort(),
    [['resolved', 'missed'], ['resolved', 'missed'], ['resolved', 'missed'], ['resolved', 'taken']],
    'no dose.late left open',
  );
  await until(() => updated.filter((a) => a.type === 'dose.late' && a.status === 'resolved').length >= 4);
  t.equal(updated.filter((a) => a.type === 'dose.late' && a.status === 'resolved').length, 4, 'each resolution announced (alert:updated)');
});

t.test('a missed dose whose alert failed is retried even behind hundreds of older ones never alerted', async (t) => {
  const { clock, hub, patients } = await fourPatients(t);
  const { Occurrence } = hub.features.doses.models;
  const { Alert } = hub.features.alerts.models;
  clock.set('2026-06-10T06:00:00Z');
  await hub.features.doses.service.sweep();
  clock.set('2026-06-10T07:00:00Z');
  t.match(await hub.features.doses.service.sweep(), { missed: 4 });
  const dose = await Occurrence.findOne({ patientId: patients[1], state: 'missed' }).lean();
  if (!dose) throw new Error('no missed dose');
  // 500 doses missed days ago whose alerts were never raised (too old to raise now), then this dose's alert lost.
  const DAY = 86_400_000;
  const old = Array.from({ length: 500 }, (_, i) => {
    const dueAt = new Date(dose.dueAt.getTime() - 3 * DAY - i * 60_000);
    return { ...dose, _id: new Types.ObjectId(), dueAt, missedAt: new Date(dueAt.getTime() + 3_600_000), changedAt: new Date(dueAt.getTime() + 3_600_000), alertedAt: null };
  });
  await Occurrence.collection.insertMany(old);
  await Alert.deleteOne({ cause: `dose.missed:${String(dose._id)}` });
  await Occurrence.updateOne({ _id: dose._id }, { $set: { alertedAt: null } });

  clock.set('2026-06-10T07:01:00Z');
  await hub.features.doses.service.sweep();
  t.equal(await Alert.countDocuments({ cause: `dose.missed:${String(dose._id)}` }), 1, 'its alert is raised');
  t.ok((await Occurrence.findById(dose._id).lean())?.alertedAt, 'and the dose marked alerted');
  t.equal(await Alert.countDocuments({ type: 'dose.missed' }), 4, 'the older doses raise nothing (a day-old miss is not paged)');
});
