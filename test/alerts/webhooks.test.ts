/**
 * Outside channels against local receivers (node:http on port 0): a webhook
 * that fails twice gets the third attempt, signed; the delivery log shows
 * all three; the SMS gateway gets a text with no clinical detail.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { verifySignature } from '../../src/ports/adapters/notifiers/index.js';
import { alertScenario, putPatientPolicy } from './helpers.js';

// One hub and scenario for the file: each test sets the patient's policy, raises an alert of its
// own to receivers of its own and waits for its deliveries (the tests run one after another).
// The receivers listen on loopback, which the hub refuses unless the operator allows it: this hub
// allows 127.0.0.1 alone (destinations.test.ts checks what the default refuses).
let hub: Hub;
let s: Awaited<ReturnType<typeof alertScenario>>;
t.before(async () => {
  hub = await startTestHub(t, { env: { NOTIFY_ALLOWED_PRIVATE_NETWORKS: '127.0.0.1' } });
  s = await alertScenario(hub);
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

async function receiver(t: { teardown(fn: () => unknown): void }, answer: (n: number) => number): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(answer(received.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks/medhub`, received };
}

const SECRET = 'whsec-0123456789abcdef';

t.test('a webhook that fails twice gets the third attempt, signed, and the delivery log shows three attempts', async (t) => {
  const hook = await receiver(t, (n) => (n <= 2 ? 503 : 204));
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, {
    tiers: [{ recipients: [{ careTeam: { priority: 1 } }], channels: ['webhook'] }],
    webhooks: [{ url: `${hook.url}?token=abc`, secret: SECRET }],
  });

  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-w', details: { occurrenceId: 'occ-w', slot: 2 } });
  await hub.features.alerts.delivery.settled();

  t.equal(hook.received.length, 3, 'three attempts');
  const gaps = hook.received.slice(1).map((r, i) => r.at - (hook.received[i] as Received).at);
  t.ok((gaps[1] ?? 0) >= (gaps[0] ?? 0) * 1.5, `exponential backoff (${gaps.join(', ')} ms)`);
  for (const [i, r] of hook.received.entries()) {
    t.ok(verifySignature(SECRET, { signature: r.headers['x-medhub-signature'] as string, timestamp: r.headers['x-medhub-timestamp'] as string }, r.body), `attempt ${i + 1} signature verifies`);
    t.equal(r.headers['x-medhub-attempt'], String(i + 1));
  }
  t.notOk(verifySignature('another-secret-value', { signature: hook.received[2]?.headers['x-medhub-signature'] as string, timestamp: hook.received[2]?.headers['x-medhub-timestamp'] as string }, hook.received[2]?.body ?? ''), 'a wrong secret does not verify');
  t.notOk(verifySignature(SECRET, { signature: hook.received[2]?.headers['x-medhub-signature'] as string, timestamp: hook.received[2]?.headers['x-medhub-timestamp'] as string }, `${hook.received[2]?.body ?? ''} `), 'a changed body does not verify');
  const body = JSON.parse(hook.received[2]?.body ?? '{}') as Record<string, unknown>;
  t.match(body, { event: 'alert.raised', alertId: alert.id, type: 'dose.missed', severity: 'warning', patientId: s.patient.id, patientInitials: 'A.', tier: 0, link: `/api/v1/alerts/${alert.id}` });
  t.notOk(JSON.stringify(body).includes('Alice'), 'no patient name leaves the hub');

  const log = await request(hub, 'GET', `/api/v1/alerts/${alert.id}/notifications`, { token: s.clinician.token });
  t.equal(log.status, 200);
  t.equal(log.body.items.length, 1);
  const delivery = log.body.items[0];
  t.match(delivery, { channel: 'webhook', status: 'delivered', tier: 0 });
  t.match(delivery.endpoint, new RegExp(`^${new URL(hook.url).origin}/… #[0-9a-f]{8}$`), 'the endpoint by its origin and fingerprint');
  t.same(delivery.attempts.map((a: { attempt: number; ok: boolean; statusCode: number }) => [a.attempt, a.ok, a.statusCode]), [[1, false, 503], [2, false, 503], [3, true, 204]]);
  t.notOk(JSON.stringify(log.body).includes('token=abc'), 'the log never shows the query string of an endpoint');

  await hub.features.alerts.resolveCause('dose.missed:occ-w', 'Dose taken late');
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 4, 'the endpoint that was reached gets a follow-up');
  t.match(JSON.parse(hook.received[3]?.body ?? '{}'), { event: 'alert.resolved', alertId: alert.id });
  t.equal(hook.received[3]?.headers['x-medhub-event'], 'alert.resolved');
});

t.test('a webhook that never answers well is given up after three attempts; SMS reaches the gateway without clinical detail', async (t) => {
  const hook = await receiver(t, () => 500);
  const gone = await receiver(t, () => 410);
  const gateway = await receiver(t, () => 202);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, {
    tiers: [{ recipients: [{ careTeam: { priority: 2 } }], channels: ['webhook', 'sms', 'voice'] }],
    webhooks: [{ url: hook.url, secret: SECRET }, { url: gone.url, secret: SECRET }],
    sms: { url: gateway.url, secret: SECRET },
  });
  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'refill.low', cause: 'refill.low:p1:m1' });
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 3);
  t.equal(gone.received.length, 1, 'a 4xx is not retried');
  t.equal(gateway.received.length, 1);
  const sms = JSON.parse(gateway.received[0]?.body ?? '{}') as Record<string, unknown>;
  t.match(sms, { channel: 'sms', to: '+33612345678' });
  t.match(String(sms.text), /refill for A\./);
  t.ok(verifySignature(SECRET, { signature: gateway.received[0]?.headers['x-medhub-signature'] as string, timestamp: gateway.received[0]?.headers['x-medhub-timestamp'] as string }, gateway.received[0]?.body ?? ''), 'the gateway request is signed the same way');

  const log = await request(hub, 'GET', `/api/v1/alerts/${alert.id}/notifications`, { token: s.clinician.token });
  const summary = log.body.items.map((n: Record<string, unknown>) => `${String(n.channel)}:${String(n.status)}:${String(n.reason)}:${(n.attempts as unknown[]).length}`).sort();
  t.same(summary, ['sms:delivered:null:1', 'voice:failed:no_voice_gateway:0', 'webhook:failed:HTTP 410:1', 'webhook:failed:HTTP 500:3']);
});
