/**
 * A tier that reaches nobody (no care-team member at its priority, no webhook) does not hold the
 * alert for its delay: the next tier is told at once. Under the built-in policy a call for help
 * from a patient without a care team reached nobody for 15 minutes.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, putPatientPolicy } from './helpers.js';

const clock = new ManualClock('2026-03-10T10:00:00Z');

t.test('tiers that reach nobody are passed over at once; a tier that reaches someone keeps its delay', async (t) => {
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const { alerts } = hub.features;
  const organisationId = s.admin.organisationId;

  /** (tier, userId) of the alert's socket notifications, once some have reached `userId`. */
  const toldUntil = async (alertId: string, userId: string): Promise<Array<[number, string]>> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      await alerts.delivery.settled();
      const response = await request(hub, 'GET', `/api/v1/alerts/${alertId}/notifications`, { token: s.admin.token });
      const told = (response.body.items as Array<{ tier: number; userId: string; channel: string }>).filter((n) => n.channel === 'socket').map((n) => [n.tier, n.userId] as [number, string]);
      if (told.some(([, id]) => id === userId) || Date.now() > deadline) return told;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // Bob has no care team: tiers 0 and 1 (care team, priorities 1 and 2) reach nobody.
  const help = await alerts.raise({ organisationId, patientId: s.otherPatient.id, type: 'help.requested', cause: 'help.requested:bob-dev' });
  t.same(await toldUntil(help.id, s.clinician.userId), [[2, s.clinician.userId]], 'a call for help reaches the clinicians (tier 2) without waiting 15 minutes');
  const missed = await alerts.raise({ organisationId, patientId: s.otherPatient.id, type: 'dose.missed', cause: 'dose.missed:bob-1' });
  t.same(await toldUntil(missed.id, s.clinician.userId), [[2, s.clinician.userId]], 'a missed dose passes both empty tiers at once');
  const stored = await alerts.models.Alert.findById(missed.id).lean();
  t.equal(stored?.tier, 2);
  t.equal(stored?.nextEscalationAt ?? null, null, 'nothing left to escalate');

  // Alice's caregiver is at priority 1: her tier 0 reaches someone, and tier 1 waits its 10 minutes.
  const alice = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:alice-1' });
  t.same(await toldUntil(alice.id, s.caregiver.userId), [[0, s.caregiver.userId]]);
  const aliceStored = await alerts.models.Alert.findById(alice.id).lean();
  t.equal(aliceStored?.tier, 0);
  t.equal(aliceStored?.nextEscalationAt?.getTime(), clock.now().getTime() + 10 * 60_000, 'the next tier keeps its delay');

  // A tier whose only channel cannot go out (SMS with no gateway configured) reaches nobody either.
  const smsOnly = { tiers: [{ recipients: [{ careTeam: { priority: 1 } }], channels: ['sms'] }, { recipients: [{ careTeam: { priority: 2 } }], channels: ['socket'], delayMinutes: 10 }] };
  await putPatientPolicy(hub, s.admin.token, s.patient.id, smsOnly);
  const unsendable = await alerts.raise({ organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:alice-sms' });
  t.same(await toldUntil(unsendable.id, s.backup.userId), [[1, s.backup.userId]], 'an SMS-only tier without a gateway is passed over: the backup is told at once');
});
