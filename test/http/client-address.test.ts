/**
 * The client's address (login throttles per address, the audit log's `ip`) comes from the
 * connection unless TRUST_PROXY_HOPS says how many reverse proxies append to X-Forwarded-For; then
 * it is read from the header's right end, which those proxies wrote — never its left end, which
 * the client chose. Production alone trusts nothing: the shipped compose file publishes the hub's
 * port directly.
 */
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { request } from '../helpers/clients.js';
import { careScenario, type Login } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

const PRODUCTION = { NODE_ENV: 'production', JWT_SECRET: 'client-address-test-secret-0123456789abcdef' };

/** Creates a patient with the header given, and answers the address its audit entry recorded. */
async function auditedAddress(hub: Hub, staff: Login, admin: Login, forwardedFor: string): Promise<string | null> {
  const name = `Addr ${Math.random().toString(36).slice(2, 8)}`;
  const created = await request(hub, 'POST', '/api/v1/patients', { token: staff.token, body: { name, timezone: 'UTC' }, headers: { 'X-Forwarded-For': forwardedFor } });
  if (created.status !== 201) throw new Error(`create patient: ${created.status}`);
  const log = await request<{ items: Array<{ action: string; ip: string | null; requestId: string }> }>(hub, 'GET', '/api/v1/audit?limit=200', { token: admin.token });
  const requestId = created.headers.get('x-request-id');
  return log.body.items.find((e) => e.action === 'patient.create' && e.requestId === requestId)?.ip ?? null;
}

t.test('in production without TRUST_PROXY_HOPS, X-Forwarded-For is ignored', async (t) => {
  const hub = await startTestHub(t, { env: PRODUCTION });
  const s = await careScenario(hub);
  const ip = await auditedAddress(hub, s.clinician, s.admin, '10.9.8.7');
  t.not(ip, '10.9.8.7', 'a header the client wrote is not its address');
  t.match(ip, /127\.0\.0\.1|::1/, 'the connection’s address is');
});

t.test('behind one proxy (TRUST_PROXY_HOPS=1), the address that proxy appended is the client’s', async (t) => {
  const hub = await startTestHub(t, { env: { ...PRODUCTION, TRUST_PROXY_HOPS: '1' } });
  const s = await careScenario(hub);
  t.equal(await auditedAddress(hub, s.clinician, s.admin, '6.6.6.6, 10.1.2.3'), '10.1.2.3', 'the right end, not what the client prepended');
  t.equal(await auditedAddress(hub, s.clinician, s.admin, '10.1.2.4'), '10.1.2.4');
});
