/**
 * Two hub instances sharing one database and one Redis (as behind a load
 * balancer): both run the escalation tick at the same moment — directly, past
 * the job lock, and through the lock — and each recipient is notified once.
 * Hub B uses hub A's database (its embedded store, or MONGO_URL's) so they share data.
 */
import t from 'tap';
import { startHubPair } from '../helpers/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { alertScenario, collect, putPatientPolicy, settle, signedInSocket } from './helpers.js';

const MINUTE = 60_000;

t.test('two instances run the escalation tick at once: every recipient is notified once', async (t) => {
  const clock = new ManualClock('2026-03-10T18:00:00Z');
  const { a, b } = await startHubPair(t, { clock });

  const s = await alertScenario(a);
  await putPatientPolicy(b, s.clinician.token, s.patient.id, {
    tiers: [
      { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket'] },
      { recipients: [{ careTeam: { priority: 2 } }], channels: ['socket'], delayMinutes: 5 },
    ],
  });
  const onA = await signedInSocket(t, a, s.backup.token);
  const onB = await signedInSocket(t, b, s.backup.token);
  const seenA = collect(onA, 'alert:notify');
  const seenB = collect(onB, 'alert:notify');

  const alerts = [];
  for (let i = 0; i < 5; i += 1) {
    alerts.push(await a.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: `dose.missed:two-${i}` }));
  }
  const dup = await b.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:two-0' });
  t.equal(dup.id, alerts[0]?.id, 'hub B sees the open alert hub A raised');

  clock.advance(5 * MINUTE);
  const [movedA, movedB] = await Promise.all([a.features.alerts.service.escalate(), b.features.alerts.service.escalate()]);
  // The hubs' own cron tick (every real minute, on the shared test clock) may take some of the
  // alerts first; what matters is that none moves twice — the notification log below proves
  // each alert reached tier 2 exactly once.
  t.ok(movedA + movedB <= 5, `no alert escalated twice (A ${movedA}, B ${movedB})`);
  const [ranA, ranB] = await Promise.all([a.context.jobs.run('alerts.escalate'), b.context.jobs.run('alerts.escalate')]);
  t.ok(ranA || ranB, 'the scheduled job ran on at least one instance');
  await Promise.all([a.features.alerts.delivery.settled(), b.features.alerts.delivery.settled()]);
  await settle(300);

  const tier1 = await a.features.alerts.models.Notification.countDocuments({ tier: 1, userId: s.backup.userId });
  t.equal(tier1, 5, 'one tier-2 notification per alert in the log');
  t.equal(seenA.filter((n) => n.tier === 1).length, 5, 'the socket on hub A got each once');
  t.equal(seenB.filter((n) => n.tier === 1).length, 5, 'the socket on hub B got each once');
  t.same(new Set(seenA.filter((n) => n.tier === 1).map((n) => n.alertId)).size, 5);
});
