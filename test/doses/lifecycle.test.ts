import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { connectSocket, nextEvent, nextEventWhere } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice, topic } from '../helpers/devices.js';
import { careScenario, currentToken } from '../helpers/factories.js';
import { as, startDoseHub, dosesOf, MIN, onlineDevice, sendEvent, twoMedicationPlan, waitForState } from './helpers.js';

const DAY_FROM = '2026-06-10T00:00:00Z';
const DAY_TO = '2026-06-11T00:00:00Z';

/** A hub at 06:00 Paris on 10 June 2026, a patient with a connected dispenser and the two-medication plan. */
async function day(t: Test, options: { stock?: number; criticalEvening?: boolean } = {}) {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10', options));
  if (created.status !== 201) throw new Error(JSON.stringify(created.body));
  const doses = await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO);
  const alerts = () => hub.features.alerts.models.Alert.find({ patientId: s.patient.id }).lean();
  const taken = (dose: Record<string, unknown>, at: Date, withId = true) =>
    sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: at.toISOString(), slot: dose.slot, pills: dose.pills, dueAt: dose.dueAt, ...(withId ? { occurrenceId: dose.id } : {}) });
  return { clock, hub, s, device, client, doses, alerts, taken, sweep: () => hub.features.doses.service.sweep() };
}

t.test('an adherent day: every dose taken on time → all taken, adherence 100 %, no alerts', async (t) => {
  const { clock, hub, s, doses, alerts, taken, sweep } = await day(t);
  t.equal(doses.length, 3);
  const watcher = connectSocket(t, hub, { auth: { token: await currentToken(hub, s.caregiver) } });
  await nextEvent(watcher, 'connect');
  await watcher.timeout(5000).emitWithAck('patient:subscribe', { patientId: s.patient.id });

  for (const [index, dose] of doses.entries()) {
    clock.set(new Date(Date.parse(dose.dueAt as string) + 1000));
    const due = nextEventWhere<Record<string, unknown>>(watcher, 'dose:updated', (u) => u.id === dose.id && u.state === 'due');
    t.match(await sweep(), { due: 1, missed: 0 }, `dose ${index + 1} becomes due at dueAt`);
    await due;
    clock.advance(4 * MIN);
    const update = nextEventWhere<Record<string, unknown>>(watcher, 'dose:updated', (u) => u.id === dose.id && u.state === 'taken');
    // The last dose names itself by slot + dueAt only, without an occurrenceId.
    await taken(dose, clock.now(), index < 2);
    const updated = await update;
    t.match(updated, { state: 'taken', source: 'device', takenAt: clock.now().toISOString() }, 'dose:updated reaches the care team');
    t.ok(hub.context.schemas.check('http/dose-view', updated).ok, 'dose:updated carries a dose view');
  }
  clock.set('2026-06-10T22:30:00Z');
  t.match(await sweep(), { missed: 0, unknown: 0 });
  const states = (await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO)).map((d) => d.state);
  t.same(states, ['taken', 'taken', 'taken']);
  const adherence = await as(hub, s.caregiver, 'GET', `/patients/${s.patient.id}/adherence?from=2026-06-10&to=2026-06-10`);
  t.equal(adherence.status, 200, JSON.stringify(adherence.body));
  t.match(adherence.body.days[0], { date: '2026-06-10', scheduled: 3, takenOnTime: 3, late: 0, missed: 0, unknown: 0, adherencePercent: 100 });
  t.ok(hub.context.schemas.check('http/adherence-view', adherence.body).ok, 'the answer follows schemas/http/adherence-view.json');
  t.same(
    adherence.body.days[0].medications.map((m: Record<string, unknown>) => [m.medicationId, m.scheduled, m.adherencePercent]),
    [
      ['metformin', 2, 100],
      ['warfarin', 1, 100],
    ],
  );
  t.same(await alerts(), [], 'no alerts');
});

t.test('a forgotten evening dose is missed at dueAt + 60 min and alerted; taken later it becomes late and the alert resolves', async (t) => {
  const { clock, hub, s, doses, alerts, taken, sweep } = await day(t, { criticalEvening: true });
  const [morning, noon, evening] = doses as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  for (const dose of [morning, noon]) {
    clock.set(new Date(Date.parse(dose.dueAt as string) + 10 * MIN));
    await taken(dose, clock.now());
    await waitForState(hub, dose.id as string, 'taken');
  }
  const dueAt = Date.parse(evening.dueAt as string);
  clock.set(new Date(dueAt + 59 * MIN));
  await sweep();
  t.equal((await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO))[2]!.state, 'due', 'still due one minute before the window closes');
  const [late, ...others] = await alerts();
  t.match(late, { type: 'dose.late', cause: `dose.late:${evening.id as string}`, severity: 'info', status: 'active' }, 'past its on-time window: late, not yet missed');
  t.same(others, []);

  clock.set(new Date(dueAt + 60 * MIN));
  t.match(await sweep(), { missed: 1, unknown: 0 });
  t.match((await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO))[2], { state: 'missed', source: 'clock', evidence: 'device_online_no_event' });
  const byType = async () => new Map((await alerts()).map((a) => [a.type, a]));
  t.match((await byType()).get('dose.missed'), { cause: `dose.missed:${evening.id as string}`, severity: 'critical', status: 'active' }, 'a critical medication → a critical alert');
  t.match((await byType()).get('dose.late'), { status: 'resolved', resolved: { auto: true, note: 'missed' } }, 'dose.missed takes over from dose.late');
  t.match(await sweep(), { missed: 0 }, 'sweeping again changes nothing');
  t.equal((await alerts()).length, 2, 'and raises nothing twice');

  clock.set(new Date(dueAt + 95 * MIN));
  await taken(evening, clock.now());
  await waitForState(hub, evening.id as string, 'late');
  const resolved = await eventually(async () => (await alerts()).find((a) => a.type === 'dose.missed' && a.status === 'resolved'));
  t.equal(resolved.cause, `dose.missed:${evening.id as string}`, 'the missed-dose alert is resolved');

  const adherence = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/adherence?from=2026-06-10&to=2026-06-10`);
  t.match(adherence.body.days[0], { scheduled: 3, takenOnTime: 2, late: 1, missed: 0, adherencePercent: 100 });
});

t.test('a device offline across the due time → unknown, not missed, and no alert', async (t) => {
  const { clock, hub, s, client, doses, alerts, sweep } = await day(t);
  const [morning] = doses as [Record<string, unknown>];
  clock.set(new Date(Date.parse(morning.dueAt as string) - 20 * MIN));
  await client.endAsync();
  await eventually(async () => (await hub.features.devices.models.Device.findOne({ patientId: s.patient.id }).lean())?.status?.online === false);
  clock.set(new Date(Date.parse(morning.dueAt as string) + 61 * MIN));
  t.match(await sweep(), { missed: 0, unknown: 1 });
  t.match((await dosesOf(hub, s.clinician, s.patient.id, DAY_FROM, DAY_TO))[0], { state: 'unknown', evidence: 'device_offline' });
  t.same((await alerts()).filter((a) => a.type.startsWith('dose.')), [], 'never missed (nor alerted) without evidence');
  const adherence = await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/adherence?from=2026-06-10&to=2026-06-10`);
  t.match(adherence.body.days[0], { scheduled: 3, unknown: 1, pending: 2, adherencePercent: null }, 'unknown doses are left out of the percentage');
});

t.test('device dose.skipped and dose.missed, and an event matched by slot and nearest dueAt', async (t) => {
  const { clock, hub, device, client, doses, alerts } = await day(t);
  const [morning, noon, evening] = doses as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  clock.set(new Date(Date.parse(morning.dueAt as string) + 5 * MIN));
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.skipped', at: clock.now().toISOString(), slot: 1, pills: 1, dueAt: morning.dueAt });
  await waitForState(hub, morning.id as string, 'skipped');
  clock.set(new Date(Date.parse(noon.dueAt as string) + 61 * MIN));
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.missed', at: clock.now().toISOString(), slot: 1, pills: 1, reason: 'not_taken', dueAt: noon.dueAt });
  await waitForState(hub, noon.id as string, 'missed');
  t.match(await hub.features.doses.models.Occurrence.findById(noon.id).lean(), { evidence: 'device:not_taken', source: 'device' });
  await eventually(async () => (await alerts()).some((a) => a.cause === `dose.missed:${noon.id as string}` && a.severity === 'warning'));
  // A dose.taken with neither occurrenceId nor an exact dueAt match: the nearest dueAt in the slot within the window.
  clock.set(new Date(Date.parse(evening.dueAt as string) + 20 * MIN));
  await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.taken', at: clock.now().toISOString(), slot: 2, pills: 1, dueAt: new Date(Date.parse(evening.dueAt as string) + 60_000).toISOString() });
  await waitForState(hub, evening.id as string, 'taken');
});

t.test('stock decrements on dose.dispensed; low stock raises refill.low once', async (t) => {
  const { clock, hub, s, device, client, doses, alerts } = await day(t, { stock: 8 });
  const [morning, noon] = doses as [Record<string, unknown>, Record<string, unknown>];
  const dispense = (dose: Record<string, unknown>) =>
    sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'schedule', dueAt: dose.dueAt, occurrenceId: dose.id });
  const stock = async () => ((await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/medication-plans`)).body.medications as Array<{ id: string; stock: number }>).find((m) => m.id === 'metformin')!.stock;

  clock.set(morning.dueAt as string);
  await dispense(morning);
  await eventually(async () => (await stock()) === 7);
  t.same(await alerts(), [], '7 pills at 2 a day: 3.5 days left, no alert');
  t.equal(await stock(), 7);
  t.ok((await hub.features.doses.models.Occurrence.findById(morning.id).lean())?.dispensedAt, 'the occurrence records the dispense');

  clock.set(noon.dueAt as string);
  await dispense(noon);
  await eventually(async () => (await stock()) === 6);
  t.same(await alerts(), [], '6 pills: 3 days left, still no alert');
  await dispense(noon); // a second dispense (another event) still counts pills…
  await eventually(async () => (await stock()) === 5);
  const refill = await eventually(async () => (await alerts()).filter((a) => a.type === 'refill.low'));
  t.equal(refill.length, 1, '…but the refill alert is raised once');
  t.match(refill[0], { cause: `refill.low:${s.patient.id}:metformin`, details: { medicationId: 'metformin', pillsLeft: 5, daysLeft: 2.5 } });
});

t.test('a dispense the hub failed to apply is applied when the device resends it, taking stock once', async (t) => {
  const { clock, hub, s, doses } = await day(t, { stock: 8 });
  const [morning] = doses as [Record<string, unknown>];
  const stock = async () => ((await as(hub, s.clinician, 'GET', `/patients/${s.patient.id}/medication-plans`)).body.medications as Array<{ id: string; stock: number }>).find((m) => m.id === 'metformin')!.stock;
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const client = await connectDevice(t, hub, device, { reconnectPeriod: 300 });
  clock.set(morning.dueAt as string);
  // The store refuses the dose's dispensedAt the first time: a unique index another document already fills with that instant.
  const { Occurrence } = hub.features.doses.models;
  await Occurrence.collection.insertOne({ refusesDispense: true, dispensedAt: clock.now() });
  await Occurrence.collection.createIndex({ dispensedAt: 1 }, { unique: true, partialFilterExpression: { dispensedAt: { $type: 'date' } }, name: 'refuses_dispense' });

  const dropped = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const event = { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'schedule', dueAt: morning.dueAt, occurrenceId: morning.id };
  const acked = client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  await dropped;
  t.pass('the hub could not apply the dispense: no ack, the device is disconnected');
  t.equal(await stock(), 7, 'the first arrival took its pill off the stock');

  await Occurrence.collection.dropIndex('refuses_dispense');
  await Occurrence.collection.deleteOne({ refusesDispense: true });
  await acked; // MQTT.js resends it on reconnecting; acknowledged once applied
  await eventually(async () => Boolean((await Occurrence.findById(morning.id).lean())?.dispensedAt));
  t.pass('the resend recorded the dispense on the dose');
  t.equal(await stock(), 7, 'and the stock was taken once');
});

t.test('a patient without a dispenser: unconfirmed doses are missed; a late confirmation reconciles', async (t) => {
  const clock = new ManualClock('2026-06-10T04:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10'))).status, 201);
  const [morning] = (await dosesOf(hub, s.caregiver, s.patient.id, DAY_FROM, DAY_TO)) as [Record<string, unknown>];
  const dueAt = Date.parse(morning.dueAt as string);
  clock.set(new Date(dueAt + 60 * MIN));
  t.match(await hub.features.doses.service.sweep(), { missed: 1, unknown: 0 });
  t.match(await hub.features.doses.models.Occurrence.findById(morning.id).lean(), { state: 'missed', evidence: 'not_confirmed' });
  const cause = `dose.missed:${morning.id as string}`;
  await eventually(async () => (await hub.features.alerts.models.Alert.findOne({ cause }).lean())?.status === 'active');

  clock.set(new Date(dueAt + 80 * MIN));
  const early = await as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/doses/${morning.id as string}/confirm`, { takenAt: new Date(dueAt - 2 * 60 * MIN).toISOString() });
  t.equal(early.status, 400, 'takenAt before the window opens is refused');
  const confirmed = await as(hub, s.patientUser, 'POST', `/patients/${s.patient.id}/doses/${morning.id as string}/confirm`, { takenAt: new Date(dueAt + 75 * MIN).toISOString() });
  t.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  t.match(confirmed.body, { state: 'late', source: 'confirmation' }, 'the patient confirms it taken late');
  await eventually(async () => (await hub.features.alerts.models.Alert.findOne({ cause }).lean())?.status === 'resolved');
  const again = await as(hub, s.caregiver, 'POST', `/patients/${s.patient.id}/doses/${morning.id as string}/confirm`, {});
  t.match(again.body, { state: 'late' }, 'confirming again changes nothing');
});
