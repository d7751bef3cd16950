/**
 * Who granted which role, reset whose password, disabled whom, and who read the audit trail: user
 * management and reads of the log are audited like patient data — refused attempts first of all —
 * with the fields a change set (names, and the role granted), never a password.
 */
import t from 'tap';
import { request } from '../helpers/clients.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

interface Entry {
  action: string;
  outcome: string;
  objectId: string | null;
  actor: { id: string };
  fields?: string[];
}

t.test('user management and audit reads are in the audit log, denied attempts included', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const password = 'a-new-password-for-bob-42';
  const call = (token: string, method: string, path: string, body?: unknown) => request(hub, method, `/api/v1${path}`, { token, ...(body === undefined ? {} : { body }) });

  t.equal((await call(s.clinician.token, 'POST', '/users', { email: 'x@example.org', name: 'X', role: 'admin', password })).status, 403);
  t.equal((await call(s.clinician.token, 'PATCH', `/users/${s.clinician.userId}`, { role: 'admin' })).status, 403);
  t.equal((await call(s.caregiver.token, 'GET', '/audit')).status, 403);
  t.equal((await call(s.caregiver.token, 'GET', '/users')).status, 403);
  t.equal((await call(s.admin.token, 'PATCH', `/users/${s.caregiver.userId}`, { role: 'admin', password })).status, 200);
  const created = await call(s.admin.token, 'POST', '/users', { email: 'second-admin@example.org', name: 'Second', role: 'admin', password });
  t.equal(created.status, 201);
  t.equal((await call(s.admin.token, 'GET', `/users/${String(created.body.id)}`)).status, 200);

  const log = await call(s.admin.token, 'GET', '/audit?limit=200');
  const entries = log.body.items as Entry[];
  const has = (who: string, action: string, outcome: string, extra: Partial<Entry> = {}) => entries.some((e) => e.actor.id === who && e.action === action && e.outcome === outcome && Object.entries(extra).every(([k, v]) => JSON.stringify(e[k as keyof Entry]) === JSON.stringify(v)));
  t.ok(has(s.clinician.userId, 'user.create', 'denied', { fields: ['role=admin'] }), 'a clinician trying to create an admin');
  t.ok(has(s.clinician.userId, 'user.update', 'denied', { objectId: s.clinician.userId, fields: ['role=admin'] }), 'a clinician trying to make themself admin');
  t.ok(has(s.caregiver.userId, 'audit.read', 'denied'), 'a caregiver trying to read the log');
  t.ok(has(s.caregiver.userId, 'user.list', 'denied'), 'a caregiver trying to list users');
  t.ok(has(s.admin.userId, 'user.update', 'allowed', { objectId: s.caregiver.userId, fields: ['role=admin', 'password'] }), 'a role granted and a password reset, by whom and to whom');
  t.ok(has(s.admin.userId, 'user.create', 'allowed', { fields: ['role=admin'] }), 'an admin created');
  t.ok(has(s.admin.userId, 'user.read', 'allowed', { objectId: String(created.body.id) }));
  t.notMatch(JSON.stringify(entries), password, 'never the password');

  const again = await call(s.admin.token, 'GET', '/audit?limit=200');
  t.ok((again.body.items as Entry[]).some((e) => e.actor.id === s.admin.userId && e.action === 'audit.read' && e.outcome === 'allowed'), 'reading the log is recorded too');
});
