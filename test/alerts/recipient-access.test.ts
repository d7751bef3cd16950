/**
 * A tier that names a role or a user tells only those who may read about the alert's patient — as
 * GET /alerts/{id} would show it to them: a caregiver of the organisation who is not on the
 * patient's care team, or another patient, hears nothing (not even initials); an alert about no
 * patient reaches staff only.
 */
import t from 'tap';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario } from './helpers.js';

t.test('role and named recipients are told only about patients they may see', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const { alerts } = hub.features;
  const organisationId = s.admin.organisationId;
  const policy = {
    tiers: [{ recipients: [{ role: 'caregiver' }, { userId: s.patientUser.userId }, { userId: s.outsider.userId }, { userId: s.clinician.userId }], channels: ['socket'] }],
  };
  const put = await request(hub, 'PUT', '/api/v1/escalation-policy', { token: s.admin.token, body: policy });
  t.equal(put.status, 200, 'the organisation policy is stored');

  const told = async (patientId: string | null, cause: string): Promise<string[]> => {
    const raised = await alerts.raise({ organisationId, patientId, type: patientId ? 'dose.missed' : 'device.offline', cause });
    await alerts.delivery.settled();
    const notifications = await request(hub, 'GET', `/api/v1/alerts/${raised.id}/notifications`, { token: s.admin.token });
    t.equal(notifications.status, 200);
    return (notifications.body.items as Array<{ userId: string }>).map((n) => n.userId).sort();
  };

  const aboutAlice = await told(s.patient.id, 'dose.missed:alice-1');
  t.same(aboutAlice, [s.caregiver.userId, s.backup.userId, s.patientUser.userId, s.clinician.userId].sort(), 'Alice’s care team, Alice herself and the clinician');

  const aboutBob = await told(s.otherPatient.id, 'dose.missed:bob-1');
  t.same(aboutBob, [s.clinician.userId], 'Bob has no care team: no caregiver, and not Alice, hears of him');

  const aboutNoPatient = await told(null, 'device.offline:dev-unassigned');
  t.same(aboutNoPatient, [s.clinician.userId], 'an alert about no patient reaches staff only');

  // What each of them could read anyway: the same people.
  for (const [user, expected] of [[s.outsider, 404], [s.caregiver, 200]] as const) {
    const list = await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}`, { token: user.token });
    t.equal(list.status === 200 && (list.body.items as unknown[]).length > 0 ? 200 : 404, expected);
  }
});

t.test('the notification log shows staff where notifications went without the endpoints’ tokens, and others only their own', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const { alerts } = hub.features;
  const hook = 'https://hooks.example.com/hooks/catch/123/SECRETPATHTOKEN/?token=QUERYTOKEN';
  const put = await request(hub, 'PUT', '/api/v1/escalation-policy', {
    token: s.admin.token,
    body: { tiers: [{ recipients: [{ careTeam: { priority: 1 } }, { userId: s.patientUser.userId }], channels: ['socket', 'webhook'] }], webhooks: [{ url: hook, secret: 'x'.repeat(24) }] },
  });
  t.equal(put.status, 200);
  const raised = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:alice-log' });
  await alerts.delivery.settled();
  type Row = { channel: string; userId: string | null; endpoint: string | null };
  const read = async (token: string) => (await request(hub, 'GET', `/api/v1/alerts/${raised.id}/notifications`, { token })).body.items as Row[];

  const staff = await read(s.clinician.token);
  const webhook = staff.find((n) => n.channel === 'webhook');
  t.match(webhook?.endpoint, /^https:\/\/hooks\.example\.com\/… #[0-9a-f]{8}$/, 'staff see the endpoint’s origin and fingerprint');
  t.notOk(JSON.stringify(staff).includes('SECRETPATHTOKEN') || JSON.stringify(staff).includes('QUERYTOKEN'), 'never its path or query');
  t.same(staff.filter((n) => n.channel === 'socket').map((n) => n.userId).sort(), [s.caregiver.userId, s.patientUser.userId].sort(), 'and who was told');

  const own = await read(s.patientUser.token);
  t.ok(own.every((n) => n.endpoint === null), 'the patient sees no endpoint');
  t.same(own.filter((n) => n.userId !== null).map((n) => n.userId), [s.patientUser.userId], 'and of the recipients only themself');
});
