/**
 * raiseMany: many causes at once, with raise's semantics — new causes opened,
 * an open cause answered with its alert, a cause repeated in the batch raised
 * once, quiet hours holding back a warning but not a critical alert, a
 * critical alert starting a tier up — each recipient's notification recorded,
 * one `alert:raised` per new alert; store commands that do not grow with the
 * batch; and two instances raising the same batch at the same moment.
 */
import t from 'tap';
import { ALERTS_PER_BATCH } from '../../src/features/alerts/batches.js';
import type { RaiseAlert } from '../../src/features/alerts/contract.js';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { request, type AnyBody } from '../helpers/clients.js';
import { addToCareTeam, createPatient, login } from '../helpers/factories.js';
import { startHubPair, startTestHub, storeCommandsDuring } from '../helpers/hub.js';
import { alertScenario, collect, putPatientPolicy, settle, signedInSocket } from './helpers.js';

const twoTiers = {
  tiers: [
    { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket'] },
    { recipients: [{ careTeam: { priority: 2 } }, { role: 'clinician' }], channels: ['socket', 'sms'], delayMinutes: 10 },
  ],
};

/** Store commands the hub's driver sends while `run` runs (and its deliveries settle). */
async function commandsDuring(hub: Hub, run: () => Promise<unknown>): Promise<string[]> {
  const seen = await storeCommandsDuring(hub, async () => {
    await run();
    await hub.features.alerts.delivery.settled();
  });
  return seen.map(({ command }) => command);
}

async function notificationLog(hub: Hub, token: string, alertId: string): Promise<AnyBody[]> {
  const log = await request(hub, 'GET', `/api/v1/alerts/${alertId}/notifications`, { token });
  if (log.status !== 200) throw new Error(`notifications: ${log.status}`);
  return log.body.items as AnyBody[];
}

const summary = (items: AnyBody[]): string[] => items.map((n) => `${n.tier}:${n.channel}:${n.userId}:${n.status}${n.reason ? `:${n.reason}` : ''}`).sort();

t.test('a mixed batch: new, already open, repeated, quiet hours, critical a tier up', async (t) => {
  // 23:00 in Paris (UTC+1 in winter): inside 22:00–07:00 quiet hours.
  const clock = new ManualClock('2026-01-15T22:00:00Z');
  const hub = await startTestHub(t, { clock });
  await hub.context.jobs.stop(); // no real-time escalation tick during the test
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, twoTiers);
  await putPatientPolicy(hub, s.clinician.token, s.otherPatient.id, { ...twoTiers, quietHours: { start: '22:00', end: '07:00' } });
  await addToCareTeam(hub, s.clinician, s.otherPatient.id, s.caregiver.userId, 1);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const clinician = await signedInSocket(t, hub, s.clinician.token);
  const raisedSeen = collect<AnyBody>(clinician, 'alert:raised');
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const alerts = hub.features.alerts;
  const organisationId = s.admin.organisationId;
  const loud = { organisationId, patientId: s.patient.id };
  const quiet = { organisationId, patientId: s.otherPatient.id };

  const alreadyOpen = await alerts.raise({ ...loud, type: 'device.jam', cause: 'device.jam:dev-1' });
  await eventually(() => raisedSeen.length === 1);

  const batch: RaiseAlert[] = [
    { ...loud, type: 'dose.missed', cause: 'dose.missed:occ-a', details: { occurrenceId: 'occ-a', slot: 1 } },
    { ...loud, type: 'device.jam', cause: 'device.jam:dev-1' },
    { ...loud, type: 'dose.missed', cause: 'dose.missed:occ-a', details: { occurrenceId: 'occ-a', slot: 2 } },
    { ...quiet, type: 'dose.missed', cause: 'dose.missed:occ-q' },
    { ...loud, type: 'help.requested', cause: 'help.requested:dev-2', deviceId: 'dev-2' },
    { ...quiet, type: 'dose.missed', cause: 'dose.missed:occ-c', severity: 'critical', startTier: 1 },
  ];
  const refs = await alerts.raiseMany(batch);
  t.equal(refs.length, batch.length, 'one ref per input, in order');
  t.same(refs.map((r) => r.cause), batch.map((b) => b.cause));
  t.equal(refs[1]?.id, alreadyOpen.id, 'an open cause answers with its alert');
  t.equal(refs[2]?.id, refs[0]?.id, 'a cause repeated in the batch is raised once');
  t.equal(new Set(refs.map((r) => r.id)).size, 5, 'four new alerts and the open one');
  t.ok(refs.every((r) => r.status === 'active'));
  for (const cause of new Set(batch.map((b) => b.cause))) t.equal(await alerts.models.Alert.countDocuments({ cause }), 1, `one alert for ${cause}`);
  const [missed, , , quietMissed, help, critical] = refs.map((r) => r.id) as string[];

  await alerts.delivery.settled();
  await eventually(() => raisedSeen.length === 5);
  await settle();
  t.equal(raisedSeen.length, 5, 'one alert:raised per new alert, none for the open or repeated cause');
  t.same(raisedSeen.slice(1).map((a) => a.id).sort(), [missed, quietMissed, help, critical].sort());
  const view = (id: string | undefined) => raisedSeen.find((a) => a.id === id) as AnyBody;
  t.match(view(missed), { type: 'dose.missed', severity: 'warning', tier: 0, tierCount: 2, details: { occurrenceId: 'occ-a', slot: 1 } }, 'the first input of a cause wins');
  t.match(view(help), { type: 'help.requested', severity: 'critical', tier: 1, deviceId: 'dev-2' }, 'help.requested starts at tier 1');
  t.match(view(critical), { severity: 'critical', tier: 1 });

  const stored = async (id: string | undefined) => alerts.models.Alert.findById(id).lean();
  t.has(await stored(missed), { notifiedTier: 0, nextEscalationAt: new Date('2026-01-15T22:10:00Z') }, 'tier 2 due ten minutes later');
  t.has(await stored(quietMissed), { notifiedTier: -1, nextEscalationAt: new Date('2026-01-16T06:00:00Z'), policy: { timezone: 'Europe/Paris', source: 'patient' } }, 'quiet hours: deferred to 07:00 Paris');
  t.match(await stored(help), { notifiedTier: 1, nextEscalationAt: null });
  t.match(await stored(critical), { notifiedTier: 1, nextEscalationAt: null }, 'critical alerts ignore quiet hours');

  const caregiverId = s.caregiver.userId;
  const backupId = s.backup.userId;
  const clinicianId = s.clinician.userId;
  const token = s.clinician.token;
  t.same(summary(await notificationLog(hub, token, missed as string)), [`0:socket:${caregiverId}:delivered`]);
  t.same(summary(await notificationLog(hub, token, quietMissed as string)), [`0:socket:${caregiverId}:suppressed:quiet_hours`], 'recorded, not sent');
  t.same(
    summary(await notificationLog(hub, token, help as string)),
    [`0:socket:${caregiverId}:delivered`, `1:sms:${backupId}:failed:no_sms_gateway`, `1:sms:${clinicianId}:failed:no_sms_gateway`, `1:socket:${backupId}:failed:not_connected`, `1:socket:${clinicianId}:delivered`].sort(),
    'tiers 0 and 1 at once: every recipient on every channel',
  );
  t.same(
    summary(await notificationLog(hub, token, critical as string)),
    [`0:socket:${caregiverId}:delivered`, `1:sms:${clinicianId}:failed:no_sms_gateway`, `1:socket:${clinicianId}:delivered`].sort(),
    'the other patient has no priority-2 caregiver',
  );
  t.same(notes.map((n) => `${n.alertId}:${n.tier}`).sort(), [`${alreadyOpen.id}:0`, `${missed}:0`, `${help}:0`, `${critical}:0`].sort(), 'the caregiver is told of each alert but the quiet one');
  t.ok(notes.every((n) => n.event === 'alert.raised' && ['A.', 'B.'].includes(n.patientInitials as string)), 'initials only');

  // Quiet hours over: the deferred tier is told by the tick, as for a single raise.
  clock.set('2026-01-16T06:00:00Z');
  t.equal(await alerts.service.escalate(), 3, 'the deferred alert, and the two warnings past their ten minutes (the critical ones are at their last tier)');
  await eventually(() => notes.some((n) => n.alertId === quietMissed && n.tier === 0));
});

t.test('store commands do not grow with the batch', async (t) => {
  const hub = await startTestHub(t);
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, twoTiers);
  // Many patients in the large batch, two in the small one.
  const patients = [s.patient.id];
  for (let i = 0; i < 43; i += 1) {
    const patient = await createPatient(hub, s.clinician, { name: `Patient ${i}` });
    await addToCareTeam(hub, s.clinician, patient.id, s.caregiver.userId, 1);
    patients.push(patient.id);
  }
  const batchOf = (count: number, tag: string): RaiseAlert[] =>
    Array.from({ length: count }, (_, i) => ({ organisationId: s.admin.organisationId, patientId: patients[i % patients.length] as string, type: i % 3 ? 'dose.missed' : 'help.requested', cause: `cmd-${tag}-${i}` }));

  const small = await commandsDuring(hub, () => hub.features.alerts.raiseMany(batchOf(2, 'small')));
  const large = await commandsDuring(hub, () => hub.features.alerts.raiseMany(batchOf(60, 'large')));
  // Every patient's caregiver told: care-team links found on both paths.
  t.equal(await hub.features.alerts.models.Notification.countDocuments({ channel: 'socket', userId: s.caregiver.userId, tier: 0 }), 62);
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ cause: /^cmd-large-/ }), 60);
  // The first patient's policy: tier 0 its caregiver (socket), tier 1 the backup and the clinician (socket, sms);
  // the others' (built-in): tier 0 their caregiver (socket, sms), nobody at priority 2.
  const expected = (count: number): number => Array.from({ length: count }, (_, i) => (i % patients.length === 0 ? (i % 3 ? 1 : 5) : 2)).reduce((a, b) => a + b, 0);
  t.equal(await hub.features.alerts.models.Notification.countDocuments({}), expected(2) + expected(60), 'every recipient recorded');
  // As multisets: commands sent together (policies ‖ patients) are observed as they are answered.
  t.same([...large].sort(), [...small].sort(), `the same commands for 60 alerts as for 2: ${small.join(', ')}`);
  t.ok(small.length <= 10, `${small.length} store commands`);
  const again = await commandsDuring(hub, () => hub.features.alerts.raiseMany(batchOf(60, 'large')));
  t.same(again, ['find'], 'all already open: one query');
});

t.test('two instances raise the same batch at the same moment: one alert per cause, announced once', async (t) => {
  const { a, b } = await startHubPair(t);
  for (const hub of [a, b]) await hub.context.jobs.stop();
  const s = await alertScenario(a);
  const clinician = await signedInSocket(t, a, (await login(a, s.clinician.email)).token);
  const raised = collect<AnyBody>(clinician, 'alert:raised');
  const notes = collect<AnyBody>(await signedInSocket(t, a, s.caregiver.token), 'alert:notify');

  const batch: RaiseAlert[] = Array.from({ length: 20 }, (_, i) => ({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: `race-${i}` }));
  const [fromA, fromB] = await Promise.all([a.features.alerts.raiseMany(batch), b.features.alerts.raiseMany(batch)]);
  t.same(fromA.map((r) => r.id), fromB.map((r) => r.id), 'both answer with the same alerts');
  t.equal(await a.features.alerts.models.Alert.countDocuments({ cause: /^race-/ }), 20, 'one alert per cause');
  await Promise.all([a.features.alerts.delivery.settled(), b.features.alerts.delivery.settled()]);
  await eventually(() => raised.length === 20 && notes.length === 20);
  await settle(300);
  t.equal(raised.length, 20, 'each announced once (whichever instance stored it)');
  t.equal(notes.length, 20, 'and its caregiver told once');
  t.equal(await a.features.alerts.models.Notification.countDocuments({ tier: 0, channel: 'socket' }), 20, 'one socket notification per alert in the log');
});

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('resolveCauses: the open alerts of the causes resolved at once, each followed up; others untouched', async (t) => {
  const hub = await startTestHub(t);
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, twoTiers);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const updates = collect<AnyBody>(caregiver, 'alert:updated');
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const alerts = hub.features.alerts;
  const base = { organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.late' as const };
  const refs = await alerts.raiseMany([0, 1, 2, 3].map((i) => ({ ...base, cause: `late-${i}` })));
  await alerts.delivery.settled();
  const byPerson = await request(hub, 'POST', `/api/v1/alerts/${refs[3]?.id as string}/resolve`, { token: s.clinician.token, body: { note: 'seen to' } });
  t.equal(byPerson.status, 200);

  const commands = await commandsDuring(hub, async () => {
    const resolved = await alerts.resolveCauses(['late-0', 'late-1', 'late-3', 'never-raised'], 'missed');
    t.same(resolved.map((r) => r.id).sort(), [refs[0]?.id, refs[1]?.id].sort(), 'only the open ones, and only those it resolved');
    t.ok(resolved.every((r) => r.status === 'resolved'));
  });
  t.equal(commands.filter((c) => c === 'update').length, 1, 'one write for the alerts');
  t.equal(commands.filter((c) => c === 'insert').length, 1, 'one for the follow-ups, stored with their socket delivery (no second write for the attempts)');
  const followUps = await alerts.models.Notification.find({ alertId: { $in: [refs[0]?.id as string, refs[1]?.id as string] }, event: 'alert.resolved' }).lean<Array<{ channel: string; status: string; attempts: Array<{ ok: boolean }> }>>();
  t.ok(followUps.length >= 2 && followUps.every((n) => n.channel === 'socket' && n.status === 'delivered' && n.attempts.length === 1 && n.attempts[0]?.ok === true), 'each follow-up recorded delivered, with its one attempt');
  t.match(await alerts.models.Alert.findById(refs[2]?.id).lean(), { status: 'active' }, 'another cause untouched');
  t.match(await alerts.models.Alert.findById(refs[3]?.id).lean(), { resolved: { note: 'seen to', auto: false } }, 'a person’s resolution kept');
  await eventually(() => updates.filter((u) => u.resolved?.note === 'missed').length === 2);
  await eventually(() => notes.filter((n) => n.event === 'alert.resolved').length === 3);
  t.same(notes.filter((n) => n.event === 'alert.resolved').map((n) => n.alertId).sort(), [refs[0]?.id, refs[1]?.id, refs[3]?.id].sort(), 'everyone reached hears it is over');
  t.same(await alerts.resolveCauses(['late-0'], 'again'), [], 'nothing open any more');
});

t.test('two resolutions of the same cause at the same instant: one resolves it, one follow-up, one alert:updated', async (t) => {
  // A manual clock: both resolutions carry the same time and note, so nothing but the write itself tells whose it is.
  const hub = await startTestHub(t, { clock: new ManualClock('2026-01-15T09:00:00Z') });
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const updates = collect<AnyBody>(caregiver, 'alert:updated');
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const alerts = hub.features.alerts;
  const [ref] = await alerts.raiseMany([{ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.late', cause: 'late-twice' }]);
  await alerts.delivery.settled();

  // Both read the alert open before either writes (the store answers in order), then both write.
  const [first, second] = await Promise.all([alerts.resolveCauses(['late-twice'], 'taken'), alerts.resolveCauses(['late-twice'], 'taken')]);
  await alerts.delivery.settled();
  t.same([...(first ?? []), ...(second ?? [])].map((r) => r.id), [ref?.id], 'one of them answers with the alert, the other with nothing');
  const followUps = await alerts.models.Notification.countDocuments({ alertId: ref?.id, event: 'alert.resolved' });
  t.equal(followUps, 1, 'the caregiver the alert reached is followed up once');
  await settle(200);
  t.equal(updates.filter((u) => u.id === ref?.id).length, 1, 'one alert:updated');
  t.equal(notes.filter((n) => n.event === 'alert.resolved').length, 1, 'one follow-up on the socket');
});

t.test('thousands of causes at once are raised and resolved in batches, with the same answers', async (t) => {
  const hub = await startTestHub(t);
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  const count = ALERTS_PER_BATCH * 2 + 1;
  const batch: RaiseAlert[] = Array.from({ length: count }, (_, i) => ({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: `many-${i}` }));
  batch.push({ ...(batch[0] as RaiseAlert) }); // the first cause again, in the last batch

  const commands = await commandsDuring(hub, async () => {
    const refs = await hub.features.alerts.raiseMany(batch);
    t.equal(refs.length, batch.length, 'one ref per input, in order');
    t.same(refs.map((r) => r.cause), batch.map((b) => b.cause));
    t.equal(refs.at(-1)?.id, refs[0]?.id, 'a cause repeated in a later batch answers with the alert of the first');
  });
  const inserts = commands.filter((name) => name === 'insert').length;
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ cause: /^many-/ }), count, 'one alert per cause');
  t.equal(inserts, 2 * 3, 'three batches, each with one insert of alerts and one of notifications');

  const resolved = await hub.features.alerts.resolveCauses(batch.map((b) => b.cause), 'done');
  t.equal(resolved.length, count, 'every open alert resolved once');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ cause: /^many-/, status: 'resolved' }), count);
});

t.test('a socket notification that could not be recorded is not sent', async (t) => {
  const hub = await startTestHub(t);
  await hub.context.jobs.stop();
  const s = await alertScenario(hub);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const alerts = hub.features.alerts;
  // The store refuses every notification to the caregiver: one is already recorded, and a unique index forbids a second.
  const { Notification } = alerts.models;
  await Notification.collection.insertOne({ userId: s.caregiver.userId, channel: 'socket', status: 'delivered' });
  await Notification.collection.createIndex({ userId: 1 }, { unique: true, partialFilterExpression: { channel: 'socket' } });
  const base = { organisationId: s.admin.organisationId, patientId: s.patient.id };
  const raised = await alerts.raise({ ...base, type: 'device.jam', cause: 'device.jam:unrecorded' });
  await settle(300);
  t.same(notes, [], 'the caregiver was told nothing the log does not show');
  t.match(await alerts.models.Alert.findById(raised.id).lean(), { status: 'active', notifiedTier: -1 }, 'the alert stands, its first notice left to the escalation tick (first-notice-failure.test.ts)');
});
