/**
 * What a re-activation may not do: tell whoever acknowledged once they may no
 * longer see the patient (and, when quiet hours held it back, tell them when
 * they end, checked again then), or count an old press — one deduplicated
 * while the alert was active, whose effects run again after someone
 * acknowledged — as a new call for help. And the open alerts of a sweep's long
 * cause list are read from the open-cause partial index.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { findOpenByCause } from '../../src/features/alerts/open-alerts.js';
import { MAX_ABSORBED } from '../../src/features/alerts/reactivate.js';
import type { AnyBody } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice } from '../helpers/devices.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, as, collect, deviceEvent, putPatientPolicy, quietNightPolicy, settle, signedInSocket } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const settled = async (hub: Hub): Promise<void> => {
  await hub.features.alerts.delivery.settled();
  await settle(300);
};

t.test('whoever acknowledged and has since left the care team is not told of the re-activation', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const caregiverNotes = collect<AnyBody>(await signedInSocket(t, hub, s.caregiver.token), 'alert:notify');
  const backupNotes = collect<AnyBody>(await signedInSocket(t, hub, s.backup.token), 'alert:notify');
  const client = await connectDevice(t, hub, device);

  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => caregiverNotes.length === 1 && backupNotes.length === 1);
  const id = String(caregiverNotes[0]?.alertId);
  // The backup acknowledges, then leaves the care team: the alert is no longer theirs to see.
  t.equal((await as(hub, s.backup, 'POST', `/alerts/${id}/ack`, { note: 'on my way' })).status, 200);
  const removed = await as(hub, s.clinician, 'DELETE', `/patients/${s.patient.id}/care-team/${s.backup.userId}`);
  t.ok([200, 204].includes(removed.status), `removed: ${removed.status}`);
  t.equal((await as(hub, s.backup, 'GET', `/alerts/${id}`)).status, 404, 'the alert is invisible to them now');

  clock.advance(6 * HOUR);
  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => caregiverNotes.length === 2);
  await settled(hub);
  t.match(caregiverNotes[1], { event: 'alert.reactivated', alertId: id }, 'the care team is told');
  t.equal(backupNotes.length, 1, 'not a word (initials, type) to someone who may no longer see the patient');
  t.equal(await hub.features.alerts.models.Notification.countDocuments({ alertId: id, event: 'alert.reactivated', userId: s.backup.userId }), 0, 'nothing planned for them either');
});

t.test('a re-activation held back by quiet hours tells whoever acknowledged when they end — if they may still read it', async (t) => {
  // 21:00 in Paris (UTC+1 in winter); quiet hours from 22:00. Only the care team is in the tiers.
  const clock = new ManualClock('2026-01-15T20:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, quietNightPolicy);
  const devices = [
    await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 }),
    await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 }),
  ];
  const clinicianNotes = collect<AnyBody>(await signedInSocket(t, hub, s.clinician.token), 'alert:notify');
  const backupNotes = collect<AnyBody>(await signedInSocket(t, hub, s.backup.token), 'alert:notify');
  const clients = [await connectDevice(t, hub, devices[0]!), await connectDevice(t, hub, devices[1]!)];
  const jam = (i: number) => deviceEvent(hub, clients[i]!, devices[i]!.id, clock, { type: 'device.jam', slot: 1 });

  // Two dispensers jam; the clinician (in no tier) takes on the first, the backup (tier 1, not told: a jam starts at tier 0) the second.
  await jam(0);
  await jam(1);
  const [first, second] = await Promise.all(devices.map(async (d) => String((await hub.features.alerts.models.Alert.findOne({ deviceId: d.id }).lean())?._id)));
  t.equal((await as(hub, s.clinician, 'POST', `/alerts/${first}/ack`, {})).status, 200);
  t.equal((await as(hub, s.backup, 'POST', `/alerts/${second}/ack`, {})).status, 200);

  // 23:30 in Paris: both jam again. Nobody is woken.
  clock.set('2026-01-15T22:30:00Z');
  await jam(0);
  await jam(1);
  await settled(hub);
  t.same([clinicianNotes.length, backupNotes.length], [0, 0], 'a warning wakes nobody during quiet hours');
  // Before quiet hours end, the backup leaves the care team.
  t.ok([200, 204].includes((await as(hub, s.clinician, 'DELETE', `/patients/${s.patient.id}/care-team/${s.backup.userId}`)).status));

  clock.set('2026-01-16T06:00:00Z');
  t.equal(await hub.features.alerts.service.escalate(), 2);
  await eventually(async () => clinicianNotes.length === 1);
  await settled(hub);
  t.match(clinicianNotes, [{ event: 'alert.reactivated', alertId: first }], 'at 07:00 whoever acknowledged hears it jammed again, as ALERTS.md promises');
  t.equal(backupNotes.length, 0, 'but not someone who has left the care team meanwhile');
});

t.test('a press absorbed while the alert was active, run again after an acknowledgement, is an old press: nothing re-activated', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const notes = collect<AnyBody>(await signedInSocket(t, hub, s.caregiver.token), 'alert:notify');
  const client = await connectDevice(t, hub, device);
  const { Alert } = hub.features.alerts.models;
  // The effects of a help.requested event, as device-alerts.ts runs them (again, after a resend or the recovery sweep).
  const effectsOf = (eventId: string) => hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, deviceId: device.id, type: 'help.requested', cause: `help.requested:${device.id}`, details: { eventId } });

  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  clock.advance(MINUTE);
  const secondPress = await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => notes.length === 1);
  const id = String(notes[0]?.alertId);
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${id}/ack`, { note: 'on my way' })).status, 200);

  clock.advance(10 * MINUTE);
  t.match(await effectsOf(secondPress), { id, status: 'acknowledged' }, 'the second press, deduplicated while active, does not re-activate it when run again');
  await settled(hub);
  t.equal(notes.length, 1, 'nobody paged for an old press');
  t.match(await Alert.findById(id).lean(), { status: 'acknowledged', reactivations: [] });

  // A press made now is a new call all the same.
  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => notes.length === 2);
  t.match(notes[1], { event: 'alert.reactivated', alertId: id });
});

t.test('absorbed presses: the latest few kept, for help and jams only', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const { Alert } = hub.features.alerts.models;
  const raise = (type: 'help.requested' | 'refill.low', eventId: string) => hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, deviceId: 'dev-x', type, cause: `${type}:dev-x`, details: { eventId } });

  const ids = Array.from({ length: MAX_ABSORBED + 10 }, () => randomUUID());
  const help = await raise('help.requested', randomUUID());
  for (const eventId of ids) await raise('help.requested', eventId);
  await raise('help.requested', ids.at(-1)!);
  const kept = (await Alert.findById(help.id).lean())?.absorbedEventIds;
  t.same(kept, ids.slice(-MAX_ABSORBED), 'the latest, each once');

  const refill = await raise('refill.low', randomUUID());
  await raise('refill.low', randomUUID());
  t.notOk('absorbedEventIds' in ((await Alert.findById(refill.id).lean()) ?? {}), 'other types record nothing');

  // A batch repeating a cause: the repeat is remembered too.
  const batch = [randomUUID(), randomUUID()];
  const [jam] = await hub.features.alerts.raiseMany(batch.map((eventId) => ({ organisationId: s.admin.organisationId, patientId: s.patient.id, deviceId: 'dev-y', type: 'device.jam' as const, cause: 'device.jam:dev-y', details: { eventId } })));
  t.same((await Alert.findById(jam?.id).lean())?.absorbedEventIds, [batch[1]], 'the repeat within the batch');
});

t.test('the open alerts of a long cause list are read from the open-cause partial index', async (t) => {
  const hub = await startTestHub(t);
  const { Alert } = hub.features.alerts.models;
  const causes = Array.from({ length: 60 }, (_, i) => `dose.missed:${i}`);
  const filters: unknown[] = [];
  Alert.db.set('debug', (collection: string, method: string, filter: unknown) => {
    if (collection === Alert.collection.collectionName && method === 'find') filters.push(filter);
  });
  t.teardown(() => Alert.db.set('debug', false));
  await findOpenByCause(Alert, causes);
  Alert.db.set('debug', false);
  t.equal(filters.length, 1, 'one query');
  const plan = JSON.stringify((await Alert.collection.find(filters[0] as Record<string, unknown>).explain('queryPlanner')).queryPlanner);
  t.match(plan, /"indexName":"cause_1"/, 'served by the partial {cause: 1} index');
  t.match(plan, /"isPartial":true/);
});
