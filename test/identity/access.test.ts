import t from 'tap';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { careScenario, createOrganisation, createPatient } from '../helpers/factories.js';

t.test('what each role can read and change', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const get = (token: string, path: string) => request(hub, 'GET', path, { token });
  const patientPath = `/api/v1/patients/${s.patient.id}`;
  const otherPath = `/api/v1/patients/${s.otherPatient.id}`;

  t.test('admin and clinician see every patient of the organisation', async (t) => {
    for (const staff of [s.admin, s.clinician]) {
      const list = await get(staff.token, '/api/v1/patients');
      t.equal((list.body.items as unknown[]).length, 2);
      t.equal((await get(staff.token, otherPath)).status, 200);
    }
    const updated = await request(hub, 'PATCH', patientPath, { token: s.clinician.token, body: { notes: 'prefers mornings' } });
    t.equal(updated.status, 200);
    t.equal(updated.body.notes, 'prefers mornings');
  });

  t.test('a caregiver sees only patients on their care team, and cannot change them', async (t) => {
    const list = await get(s.caregiver.token, '/api/v1/patients');
    t.same((list.body.items as { id: string }[]).map((p) => p.id), [s.patient.id]);
    t.equal((await get(s.caregiver.token, patientPath)).status, 200);
    t.equal((await get(s.caregiver.token, otherPath)).status, 404, 'another patient does not exist for them');
    t.equal((await get(s.outsider.token, patientPath)).status, 404, 'a caregiver off the team sees nothing');
    t.equal((await get(s.outsider.token, '/api/v1/patients')).body.items.length, 0);
    const edit = await request(hub, 'PATCH', patientPath, { token: s.caregiver.token, body: { notes: 'x' } });
    t.equal(edit.status, 403, 'visible but not theirs to edit');
    const team = await get(s.caregiver.token, `${patientPath}/care-team`);
    t.equal(team.status, 200);
    t.match(team.body.items, [{ userId: s.caregiver.userId, priority: 1, relation: 'daughter' }]);
  });

  t.test('a patient sees only themself', async (t) => {
    const list = await get(s.patientUser.token, '/api/v1/patients');
    t.same((list.body.items as { id: string }[]).map((p) => p.id), [s.patient.id]);
    t.equal((await get(s.patientUser.token, otherPath)).status, 404);
    t.equal((await request(hub, 'POST', '/api/v1/patients', { token: s.patientUser.token, body: { name: 'X', timezone: 'UTC' } })).status, 403);
  });

  t.test('only admins manage users and read the audit log', async (t) => {
    for (const who of [s.clinician, s.caregiver, s.patientUser]) {
      t.equal((await get(who.token, '/api/v1/users')).status, 403);
      t.equal((await get(who.token, '/api/v1/audit')).status, 403);
      const escalate = await request(hub, 'PATCH', `/api/v1/users/${who.userId}`, { token: who.token, body: { role: 'admin' } });
      t.equal(escalate.status, 403, 'no one promotes themself');
    }
    t.equal((await get(s.caregiver.token, `/api/v1/users/${s.caregiver.userId}`)).status, 200, 'but everyone reads their own user');
    const users = await get(s.admin.token, '/api/v1/users?limit=2');
    t.equal(users.body.items.length, 2);
    t.type(users.body.nextCursor, 'string');
    const next = await get(s.admin.token, `/api/v1/users?limit=2&cursor=${users.body.nextCursor as string}`);
    t.equal(next.body.items.length, 2);
    t.equal((await get(s.admin.token, '/api/v1/users?limit=1000')).status, 400, 'page size is bounded');
  });

  t.test('no mass assignment', async (t) => {
    const sneaky = await request(hub, 'PATCH', patientPath, { token: s.clinician.token, body: { organisationId: '0'.repeat(24) } });
    t.equal(sneaky.status, 400);
    t.match(sneaky.body.errors, [{ path: '/organisationId', message: 'is not allowed' }]);
    const self = await request(hub, 'PATCH', `/api/v1/users/${s.caregiver.userId}`, { token: s.caregiver.token, body: { name: 'x' } });
    t.equal(self.status, 403);
    const create = await request(hub, 'POST', '/api/v1/users', { token: s.admin.token, body: { email: 'x@example.org', name: 'x', role: 'admin', password: 'long enough password', organisationId: '0'.repeat(24) } });
    t.equal(create.status, 400);
    const badZone = await request(hub, 'POST', '/api/v1/patients', { token: s.clinician.token, body: { name: 'Y', timezone: 'Mars/Olympus' } });
    t.equal(badZone.status, 400);
    t.match(badZone.body.errors, [{ path: '/timezone' }]);
    const blank = await request(hub, 'POST', '/api/v1/patients', { token: s.clinician.token, body: { name: '   ', timezone: 'UTC' } });
    t.match(blank, { status: 400, body: { errors: [{ path: '/name' }] } }, 'a blank name is no name');
    const unborn = await request(hub, 'POST', '/api/v1/patients', { token: s.clinician.token, body: { name: 'Z', timezone: 'UTC', dateOfBirth: '2099-01-01' } });
    t.match(unborn, { status: 400, body: { errors: [{ path: '/dateOfBirth', message: 'is in the future' }] } });
    const moved = await request(hub, 'PATCH', patientPath, { token: s.clinician.token, body: { dateOfBirth: '2099-01-01' } });
    t.equal(moved.status, 400, 'nor set later');
    t.equal((await get(s.clinician.token, patientPath)).body.dateOfBirth, null, 'and nothing stored changed');
  });

  t.test('disabling a user ends their sessions at once', async (t) => {
    const disabled = await request(hub, 'PATCH', `/api/v1/users/${s.outsider.userId}`, { token: s.admin.token, body: { disabled: true } });
    t.equal(disabled.status, 200);
    t.equal((await get(s.outsider.token, '/api/v1/auth/me')).status, 401);
    const relogin = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: s.outsider.email, password: 'correct horse battery staple' } });
    t.equal(relogin.status, 401);
  });
});

t.test('organisations are sealed from each other', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const rival = await createOrganisation(hub, 'Rival');
  const theirPatient = await createPatient(hub, rival);

  t.equal((await request(hub, 'GET', `/api/v1/patients/${s.patient.id}`, { token: rival.token })).status, 404, 'as if it did not exist');
  t.equal((await request(hub, 'GET', `/api/v1/patients/${theirPatient.id}`, { token: s.admin.token })).status, 404);
  t.equal((await request(hub, 'PATCH', `/api/v1/patients/${s.patient.id}`, { token: rival.token, body: { notes: 'x' } })).status, 404);
  t.equal((await request(hub, 'GET', `/api/v1/users/${s.caregiver.userId}`, { token: rival.token })).status, 404);
  t.equal((await request(hub, 'GET', '/api/v1/patients', { token: rival.token })).body.items.length, 1);
  const crossTeam = await request(hub, 'POST', `/api/v1/patients/${theirPatient.id}/care-team`, { token: rival.token, body: { userId: s.caregiver.userId, relation: 'spy', priority: 1 } });
  t.equal(crossTeam.status, 400, 'a user of another organisation cannot join a care team');

  const audit = await request<{ items: { action: string; outcome: string; objectId: string; actor: { id: string } }[] }>(hub, 'GET', `/api/v1/audit?objectId=${s.patient.id}&outcome=denied`, { token: s.admin.token });
  t.equal(audit.body.items.length, 0, 'the rival’s attempts are in the rival’s own audit log, not ours');
  const theirs = await request<{ items: { action: string; outcome: string; objectId: string }[] }>(hub, 'GET', `/api/v1/audit?outcome=denied`, { token: rival.token });
  t.ok(theirs.body.items.some((e) => e.objectId === s.patient.id && e.action === 'patient.read'), 'denied attempts are audited');
});

t.test('reads and changes of patient data are audited without the data', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  await request(hub, 'GET', `/api/v1/patients/${s.patient.id}`, { token: s.caregiver.token });
  await request(hub, 'GET', `/api/v1/patients/${s.otherPatient.id}`, { token: s.caregiver.token });
  await request(hub, 'PATCH', `/api/v1/patients/${s.patient.id}`, { token: s.clinician.token, body: { notes: 'SECRET NOTE' } });

  const log = await request<{ items: Record<string, unknown>[] }>(hub, 'GET', '/api/v1/audit?limit=200', { token: s.admin.token });
  const entries = log.body.items;
  t.ok(entries.some((e) => e.action === 'patient.read' && e.objectId === s.patient.id && e.outcome === 'allowed' && (e.actor as { id: string }).id === s.caregiver.userId));
  t.ok(entries.some((e) => e.action === 'patient.read' && e.objectId === s.otherPatient.id && e.outcome === 'denied'));
  t.ok(entries.some((e) => e.action === 'patient.update' && e.outcome === 'allowed' && e.via === 'http' && typeof e.requestId === 'string'));
  t.notMatch(JSON.stringify(entries), /SECRET NOTE/, 'the audit log never holds the data');
});
