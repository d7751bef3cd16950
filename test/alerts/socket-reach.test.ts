/**
 * The alert log says who a socket notification reached: delivered to a user with the app open, or
 * whose connection dropped within the recovery window (the notice arrives on reconnecting); failed,
 * `not_connected`, for a user with no app open — not "delivered" to nobody.
 */
import t from 'tap';
import { dropTransport, nextEvent, nextEventWhere, request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, putPatientPolicy, signedInSocket } from './helpers.js';

type Payload = Record<string, unknown>;

t.test('a socket notification is delivered to an open app or one coming back, and recorded not_connected for a user with none', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  // One tier: the caregiver (app open), the backup (no app open) and the clinician (connection about to drop), on the socket.
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, { tiers: [{ recipients: [{ careTeam: { priority: 1 } }, { careTeam: { priority: 2 } }, { role: 'clinician' }], channels: ['socket'] }] });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const clinician = await signedInSocket(t, hub, s.clinician.token);
  // The clinician's app has received nothing but its socket:ready, then its connection drops (not a
  // goodbye): the hub keeps the session for recovery.
  await dropTransport(hub.context.sockets.io, clinician);

  const told = nextEventWhere<Payload>(caregiver, 'alert:notify', (n) => n.type === 'help.requested');
  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'help.requested', cause: 'help:test' });
  t.match(await told, { alertId: alert.id, event: 'alert.raised' }, 'the open app is told');

  const log = await request(hub, 'GET', `/api/v1/alerts/${alert.id}/notifications`, { token: s.admin.token });
  t.equal(log.status, 200, JSON.stringify(log.body));
  const byUser = new Map((log.body.items as Payload[]).map((n) => [n.userId, n]));
  t.match(byUser.get(s.caregiver.userId), { channel: 'socket', status: 'delivered', reason: null }, 'delivered to the caregiver, whose app is open');
  t.match(byUser.get(s.clinician.userId), { channel: 'socket', status: 'delivered', reason: null }, 'delivered to the clinician, whose connection may come back');
  t.match(byUser.get(s.backup.userId), { channel: 'socket', status: 'failed', reason: 'not_connected', attempts: [] }, 'not delivered to the backup, who has no app open');

  // Back within the window: the clinician gets the notice the connection missed.
  const missed = nextEvent<Payload>(clinician, 'alert:notify');
  clinician.connect();
  t.match(await missed, { alertId: alert.id, event: 'alert.raised' }, 'the clinician, back, gets it');
  t.ok(clinician.recovered, 'through recovery');
});
