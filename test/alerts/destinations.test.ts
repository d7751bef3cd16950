/**
 * Where outside channels may connect. A clinician writes a policy's webhook and gateway URLs and
 * anyone who may read the alert sees each delivery attempt's status and error, so a URL inside the
 * hub's network would be a request forgery with a response oracle. With the default setting (no
 * NOTIFY_ALLOWED_PRIVATE_NETWORKS) a non-public address is refused when the policy is written —
 * IP literals and localhost names — and, whatever the policy holds, no request reaches one: the
 * attempt fails `destination_not_allowed` before any connection, host names judged on the
 * addresses they resolve to.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { Hub } from '../../src/hub.js';
import { request, type AnyBody } from '../helpers/clients.js';
import { sharedStoreUrl, startTestHub } from '../helpers/hub.js';
import { alertScenario, putPatientPolicy } from './helpers.js';

const SECRET = 'whsec-0123456789abcdef';
const REFUSED = 'must not point at a loopback, private, link-local or other non-public address';

// Hub `wide` lets an operator's internal networks through (loopback — both families, as localhost
// may resolve to either — and the metadata address here);
// hub `strict` shares its store with the default setting, as after an operator narrowed it. The
// scenario and every policy are written once, through `wide` when they hold a non-public URL.
let wide: Hub;
let strict: Hub;
let s: Awaited<ReturnType<typeof alertScenario>>;
t.before(async () => {
  const jwt = { JWT_SECRET: `shared-secret-${randomUUID()}` };
  wide = await startTestHub(t, { env: { ...jwt, NOTIFY_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8, ::1, 169.254.169.254' } });
  strict = await startTestHub(t, { env: { ...jwt, MONGO_URL: sharedStoreUrl(wide) } });
  // The strict hub uses the wide hub's store: it stops first.
  t.teardown(() => strict.close());
  s = await alertScenario(wide);
});

/** A real HTTP server on 127.0.0.1 counting what reaches it. */
async function receiver(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method ?? ''} ${req.url ?? ''}`);
    req.resume();
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as { port: number }).port, hits };
}

const oneWebhook = (url: string) => ({ tiers: [{ recipients: [{ careTeam: { priority: 1 } }], channels: ['webhook'] }], webhooks: [{ url, secret: SECRET }] });

t.test('a policy endpoint at a non-public IP address or localhost is refused when written: 400 at the URL field', async (t) => {
  const refused = [
    'http://127.0.0.1:6379/',
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.5/hook',
    'http://172.16.3.4/hook',
    'http://192.168.1.1/hook',
    'http://100.64.0.1/hook',
    'http://0.0.0.0:8080/',
    'http://224.0.0.1/',
    'http://[::1]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[::]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/latest',
    // Other spellings of 127.0.0.1 that URL parsers (and so fetch, curl…) accept.
    'http://2130706433/',
    'http://0x7f.1/',
    'http://127.1/',
    'http://localhost:8080/',
    'http://LOCALHOST./',
    'https://admin.localhost/',
  ];
  for (const url of refused) {
    const response = await request(strict, 'PUT', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token, body: oneWebhook(url) });
    t.equal(response.status, 400, url);
    t.match(response.body, { code: 'validation_failed', errors: [{ path: '/webhooks/0/url', message: REFUSED }] }, `${url}: the URL field is named`);
  }

  const mixed = {
    ...oneWebhook('https://hooks.example.org/medhub'),
    webhooks: [{ url: 'https://hooks.example.org/medhub', secret: SECRET }, { url: 'http://10.1.2.3/hook', secret: SECRET }],
    sms: { url: 'http://192.168.0.10/send', secret: SECRET },
    voice: { url: 'http://[fc00::5]/call', secret: SECRET },
  };
  const several = await request(strict, 'PUT', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token, body: mixed });
  t.equal(several.status, 400);
  t.same(
    (several.body as AnyBody).errors.map((e: { path: string }) => e.path),
    ['/webhooks/1/url', '/sms/url', '/voice/url'],
    'every refused endpoint is named, the public one is not',
  );
  const org = await request(strict, 'PUT', '/api/v1/escalation-policy', { token: s.admin.token, body: oneWebhook('http://169.254.169.254/latest/') });
  t.match(org, { status: 400, body: { code: 'validation_failed', errors: [{ path: '/webhooks/0/url' }] } }, 'the organisation default too');
  t.equal((await request(strict, 'GET', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token })).body.source, 'default', 'nothing refused was stored');

  const allowed = await request(strict, 'PUT', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token, body: { ...oneWebhook('https://hooks.example.org/medhub'), sms: { url: 'http://93.184.215.14/send', secret: SECRET } } });
  t.equal(allowed.status, 200, 'public host names and addresses are accepted');

  const narrow = await request(wide, 'PUT', `/api/v1/patients/${s.patient.id}/escalation-policy`, { token: s.clinician.token, body: oneWebhook('http://10.0.0.5/hook') });
  t.match(narrow, { status: 400, body: { errors: [{ path: '/webhooks/0/url' }] } }, 'an allow-list lets through only the networks it names');
});

t.test('with the default setting no request reaches a non-public address, whatever the policy holds: the attempt fails destination_not_allowed', async (t) => {
  const hook = await receiver(t);
  const gateway = await receiver(t);
  // Written through the wide hub (its allow-list accepts them), delivered by the strict one.
  await putPatientPolicy(wide, s.clinician.token, s.patient.id, {
    tiers: [{ recipients: [{ careTeam: { priority: 2 } }], channels: ['webhook', 'sms', 'voice'] }],
    webhooks: [
      { url: `http://127.0.0.1:${hook.port}/literal`, secret: SECRET },
      // A host name: only its resolved address (127.0.0.1) tells, when the hub connects.
      { url: `http://localhost:${hook.port}/resolved`, secret: SECRET },
      { url: 'http://169.254.169.254/latest/meta-data/', secret: SECRET },
    ],
    sms: { url: `http://[::ffff:127.0.0.1]:${gateway.port}/sms`, secret: SECRET },
    voice: { url: `http://2130706433:${gateway.port}/voice`, secret: SECRET },
  });

  const alert = await strict.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'refill.low', cause: 'refill.low:ssrf:1' });
  await strict.features.alerts.delivery.settled();
  t.same(hook.hits, [], 'the webhook receiver on 127.0.0.1 got nothing (by address or by name)');
  t.same(gateway.hits, [], 'the gateway on 127.0.0.1 got nothing');

  // Staff see the endpoints (by origin and fingerprint: a path may hold the receiver's token).
  const log = await request(strict, 'GET', `/api/v1/alerts/${alert.id}/notifications`, { token: s.clinician.token });
  t.equal(log.status, 200);
  const outside = (log.body.items as AnyBody[]).filter((n) => n.channel !== 'socket');
  t.same(outside.map((n) => `${String(n.channel)} ${String(n.endpoint).replace(/ #[0-9a-f]{8}$/, '')}`).sort(), [
    `sms http://[::ffff:7f00:1]:${gateway.port}/…`,
    `voice http://127.0.0.1:${gateway.port}/…`,
    `webhook http://127.0.0.1:${hook.port}/…`,
    'webhook http://169.254.169.254/…',
    `webhook http://localhost:${hook.port}/…`,
  ]);
  for (const n of outside) {
    t.match(n, { status: 'failed', reason: 'destination_not_allowed' }, `${String(n.endpoint)} failed, and says why`);
    t.same(
      (n.attempts as AnyBody[]).map((a) => [a.ok, a.statusCode, a.error]),
      [[false, null, 'destination_not_allowed']],
      `${String(n.endpoint)}: one attempt, not retried, no status code of anyone's`,
    );
  }

  // The loopback endpoints on the hub that allows loopback: the receiver was reachable all along, by
  // address and by name (the guard's lookup answers the addresses it checked, and they are used).
  await putPatientPolicy(wide, s.clinician.token, s.patient.id, {
    ...oneWebhook(`http://127.0.0.1:${hook.port}/literal`),
    webhooks: [{ url: `http://127.0.0.1:${hook.port}/literal`, secret: SECRET }, { url: `http://localhost:${hook.port}/resolved`, secret: SECRET }],
  });
  await wide.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'refill.low', cause: 'refill.low:ssrf:2' });
  await wide.features.alerts.delivery.settled();
  t.same(hook.hits.sort(), ['POST /literal', 'POST /resolved'], 'allowed by the operator, the same receiver is reached');
});

t.test('NOTIFY_ALLOWED_PRIVATE_NETWORKS takes addresses and CIDR ranges, and names every entry that is neither', async (t) => {
  t.same(loadConfig({}).notify.allowedPrivateNetworks, [], 'none by default: only public addresses');
  t.same(loadConfig({ NOTIFY_ALLOWED_PRIVATE_NETWORKS: '10.20.0.0/16, 192.168.1.10 ,fd00::/8,::1,' }).notify.allowedPrivateNetworks, ['10.20.0.0/16', '192.168.1.10/32', 'fd00::/8', '::1/128']);
  const error = t.throws(() => loadConfig({ NOTIFY_ALLOWED_PRIVATE_NETWORKS: '10.0.0.0/33,10,intranet.local,10.0.0.0/8', PORT: 'abc' })) as ConfigError;
  t.type(error, ConfigError);
  t.same(error.problems.sort(), [
    'NOTIFY_ALLOWED_PRIVATE_NETWORKS entry "10" is not an IP address or CIDR range',
    'NOTIFY_ALLOWED_PRIVATE_NETWORKS entry "10.0.0.0/33" is not an IP address or CIDR range',
    'NOTIFY_ALLOWED_PRIVATE_NETWORKS entry "intranet.local" is not an IP address or CIDR range',
    'PORT must be integer',
  ]);
});
