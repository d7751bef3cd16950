/**
 * An alert whose first notifications cannot be recorded (the store refuses them) is not lost: it is
 * stored and live, nothing half-recorded stays in its log, and the next escalation tick tells its
 * first tier — once.
 */
import t, { type Test } from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, as } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;

/** A hub on a manual clock with the alerts scenario; the alert models ready for test indexes. */
async function setup(t: Test) {
  const clock = new ManualClock('2026-03-10T10:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const { alerts } = hub.features;
  const { Notification, Alert } = alerts.models;
  await Promise.all([Notification.init(), Alert.init()]);
  return { clock, hub, s, alerts, Notification, Alert };
}

/**
 * Every write after an alert's own fails, as when the store stops answering or the process dies
 * there: its notifications (two of one tier — the built-in tier 0 tells the caregiver by socket and
 * SMS — refused by an index made for the test, `only` narrowing it to one event), and the update that
 * would leave them to the tick (an alert already due at `dueAt`, refused by another). Answers what
 * lifts the refusal.
 */
async function refuseWritesAfterTheAlert(t: Test, { Notification, Alert }: Setup, dueAt: Date, only?: { event: string }): Promise<() => Promise<void>> {
  await Notification.collection.createIndex({ alertId: 1, tier: 1 }, { unique: true, name: 'one_per_tier_for_this_test', ...(only ? { partialFilterExpression: only } : {}) });
  await Alert.collection.createIndex({ nextEscalationAt: 1 }, { unique: true, name: 'one_per_time_for_this_test' });
  await Alert.collection.insertOne({ cause: 'decoy-for-this-test', status: 'resolved', open: false, nextEscalationAt: dueAt });
  const lift = async (): Promise<void> => {
    await Notification.collection.dropIndex('one_per_tier_for_this_test').catch(() => undefined);
    await Alert.collection.dropIndex('one_per_time_for_this_test').catch(() => undefined);
  };
  t.teardown(lift);
  return lift;
}

/** After the tick told a new alert's tier 0: told as a new alert, then escalating as usual, and not told twice. */
async function toldAsNewOnce(t: Test, { clock, s, alerts, Notification, Alert }: Setup, alertId: string): Promise<void> {
  await alerts.delivery.settled();
  const told = await Notification.find({ alertId }).lean();
  t.same(told.map((n) => `${n.tier} ${n.channel} ${String(n.userId)} ${n.event}`).sort(), [`0 sms ${s.caregiver.userId} alert.raised`, `0 socket ${s.caregiver.userId} alert.raised`], 'tier 0, as a new alert');
  t.has(await Alert.findById(alertId).lean(), { tier: 0, notifiedTier: 0, nextEscalationAt: new Date(clock.now().getTime() + 10 * 60_000) }, 'then escalates as usual');
  t.equal(await alerts.service.escalate(), 0, 'and is not told twice');
}

t.test('first notifications that cannot be recorded are left to the escalation tick', async (t) => {
  const rig = await setup(t);
  const { clock, s, alerts, Notification, Alert } = rig;
  // The built-in tier 0 tells the caregiver by socket and SMS: two notifications of one tier, which
  // an index made for the test refuses (the first is inserted, the second fails).
  await Notification.collection.createIndex({ alertId: 1, tier: 1 }, { unique: true, name: 'one_per_tier_for_this_test' });
  t.teardown(() => Notification.collection.dropIndex('one_per_tier_for_this_test').catch(() => undefined));

  const raised = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:first-notice' });
  t.equal(raised.status, 'active', 'the alert is raised all the same');
  await alerts.delivery.settled();
  t.equal(await Notification.countDocuments({ alertId: raised.id }), 0, 'nothing half-recorded stays in its log');
  t.has(await Alert.findById(raised.id).lean(), { tier: 0, notifiedTier: -1, nextEscalationAt: clock.now() }, 'its first notice is due at the next tick');

  await Notification.collection.dropIndex('one_per_tier_for_this_test');
  t.equal(await alerts.service.escalate(), 1, 'the tick tells it');
  await toldAsNewOnce(t, rig, raised.id);
});

t.test('a new alert whose hub loses the store (or dies) right after storing it still gets its first notice, from the tick after the grace', async (t) => {
  const rig = await setup(t);
  const { clock, s, alerts, Notification, Alert } = rig;
  const lift = await refuseWritesAfterTheAlert(t, rig, clock.now());

  const raised = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:store-lost' });
  await alerts.delivery.settled();
  t.equal(await Notification.countDocuments({ alertId: raised.id }), 0, 'nobody told yet');
  t.has(await Alert.findById(raised.id).lean(), { tier: 0, notifiedTier: -1, nextEscalationAt: new Date(clock.now().getTime() + 2 * 60_000) }, 'stored owing its first notice');

  await lift();
  clock.advance(60_000);
  t.equal(await alerts.service.escalate(), 0, 'not before the grace: a raise still at work is not overtaken');
  clock.advance(60_000);
  t.equal(await alerts.service.escalate(), 1, 'then the tick tells it');
  await toldAsNewOnce(t, rig, raised.id);
});

t.test('a new alert told at once is stored as told: its escalation runs from the raise, and the tick does not tell it again', async (t) => {
  const { clock, s, alerts } = await setup(t);
  const raised = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:told' });
  await alerts.delivery.settled();
  t.has(await alerts.models.Alert.findById(raised.id).lean(), { tier: 0, notifiedTier: 0, nextEscalationAt: new Date(clock.now().getTime() + 10 * 60_000) });
  clock.advance(2 * 60_000);
  t.equal(await alerts.service.escalate(), 0, 'nothing owed after the grace');
  t.equal(await alerts.models.Notification.countDocuments({ alertId: raised.id }), 2, 'tier 0 told once (socket and SMS)');
});

t.test('a re-activated alert whose notice cannot be recorded (or whose hub dies then) is told by the tick after the grace', async (t) => {
  const rig = await setup(t);
  const { clock, hub, s, alerts, Notification, Alert } = rig;
  const help = { organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'help.requested' as const, cause: 'help.requested:reactivation-outbox' };
  const raised = await alerts.raise({ ...help, details: { eventId: 'press-1' } });
  await alerts.delivery.settled();
  const acked = await as(hub, s.caregiver, 'POST', `/alerts/${raised.id}/ack`, { note: 'on my way' });
  t.equal(acked.status, 200);

  // The re-activation's notifications refused (the first ones are recorded already), as is the hand-over to the tick an hour on.
  const lift = await refuseWritesAfterTheAlert(t, rig, new Date(clock.now().getTime() + 60 * 60_000), { event: 'alert.reactivated' });

  clock.advance(60 * 60_000);
  const again = await alerts.raise({ ...help, at: clock.now(), details: { eventId: 'press-2' } });
  t.equal(again.id, raised.id, 'the same alert, re-activated');
  await alerts.delivery.settled();
  t.equal(await Notification.countDocuments({ alertId: raised.id, event: 'alert.reactivated' }), 0, 'nobody told of it yet');
  t.has(await Alert.findById(raised.id).lean(), { status: 'active', notifiedTier: -1, nextEscalationAt: new Date(clock.now().getTime() + 2 * 60_000) }, 'stored owing that notice');

  await lift();
  clock.advance(2 * 60_000);
  t.equal(await alerts.service.escalate(), 1, 'the tick tells it');
  await alerts.delivery.settled();
  const told = await Notification.find({ alertId: raised.id, event: 'alert.reactivated' }).lean();
  t.ok(told.some((n) => n.channel === 'socket' && String(n.userId) === s.caregiver.userId), 'the first tier (and whoever acknowledged) hears it is active again');
  t.equal(await alerts.service.escalate(), 0, 'once');
});
