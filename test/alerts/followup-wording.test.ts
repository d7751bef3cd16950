/**
 * What a resolution follow-up says outside the hub. Whoever was paged about an alert hears it is
 * over once it is resolved (a missed dose taken late, a call for help handled): that text must not
 * read like a new page ("URGENT … Open medhub to acknowledge"), and still carries no clinical
 * detail beyond the alert kind and the patient's initials. Real receivers on loopback (node:http on
 * port 0) stand for the SMS gateway and a webhook endpoint.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, putPatientPolicy } from './helpers.js';

let hub: Hub;
let s: Awaited<ReturnType<typeof alertScenario>>;
t.before(async () => {
  // The receivers listen on 127.0.0.1, which the hub refuses unless the operator allows it.
  hub = await startTestHub(t, { env: { NOTIFY_ALLOWED_PRIVATE_NETWORKS: '127.0.0.1' } });
  s = await alertScenario(hub);
  // A full name, so that the initials have more than one letter (and the name is easy to look for).
  const renamed = await request(hub, 'PATCH', `/api/v1/patients/${s.patient.id}`, { token: s.clinician.token, body: { name: 'Alice Martin' } });
  if (renamed.status !== 200) throw new Error(`rename: ${renamed.status} ${JSON.stringify(renamed.body)}`);
});

interface Received {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

async function receiver(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/medhub`, received };
}

const SECRET = 'whsec-0123456789abcdef';

async function outsideChannels(t: { teardown(fn: () => unknown): void }) {
  const sms = await receiver(t);
  const voice = await receiver(t);
  const hook = await receiver(t);
  // The backup caregiver (priority 2) has a phone: every outside channel at once.
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, {
    tiers: [{ recipients: [{ careTeam: { priority: 2 } }], channels: ['sms', 'voice', 'webhook'] }],
    webhooks: [{ url: hook.url, secret: SECRET }],
    sms: { url: sms.url, secret: SECRET },
    voice: { url: voice.url, secret: SECRET },
  });
  return { sms, voice, hook };
}

const texts = (r: { received: Received[] }): string[] => r.received.map((x) => String(x.body.text));

t.test('a call for help resolved by a person: the SMS follow-up says it is over, not URGENT', async (t) => {
  const { sms, voice, hook } = await outsideChannels(t);
  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'help.requested', cause: 'help.requested:dev-fw', startTier: 0 });
  await hub.features.alerts.delivery.settled();
  t.equal(sms.received.length, 1, 'the page went out by SMS');
  t.equal(texts(sms)[0], `medhub: URGENT a call for help for A. M. Open medhub to acknowledge (alert ${alert.id}).`, 'the page: urgent, one full stop after the initials');
  t.match(texts(voice)[0], /^medhub: URGENT a call for help for A\. M\. Open medhub/, 'and by a voice call');

  const resolved = await request(hub, 'POST', `/api/v1/alerts/${alert.id}/resolve`, { token: s.backup.token, body: { note: 'Alice Martin had fallen; helped her up, she is fine' } });
  t.equal(resolved.status, 200);
  await hub.features.alerts.delivery.settled();

  t.equal(sms.received.length, 2, 'the SMS recipient gets a follow-up');
  const followUp = sms.received[1] as Received;
  t.equal(followUp.headers['x-medhub-event'], 'alert.resolved');
  t.match(followUp.body, { channel: 'sms', to: '+33612345678', message: { event: 'alert.resolved', alertId: alert.id, type: 'help.requested', patientInitials: 'A. M.' } });
  const text = String(followUp.body.text);
  t.equal(text, `medhub: resolved: a call for help for A. M., no action needed (alert ${alert.id}).`);
  t.notMatch(text, /URGENT/i, 'never urgent');
  t.notMatch(text, /acknowledge/i, 'nothing to acknowledge');
  t.notMatch(JSON.stringify(followUp.body), /Alice|Martin|fallen/, 'no name and no note leaves the hub');
  t.equal(voice.received.length, 1, 'nobody is called to be told "never mind"');

  t.equal(hook.received.length, 2, 'the webhook gets the follow-up too');
  t.equal(hook.received[1]?.headers['x-medhub-event'], 'alert.resolved', 'its header says it is a resolution');
  t.match(hook.received[1]?.body, { event: 'alert.resolved', alertId: alert.id, type: 'help.requested', patientInitials: 'A. M.' }, 'and so does its body');
  t.notMatch(JSON.stringify(hook.received[1]?.body), /Alice|Martin|fallen/);
});

t.test('a missed dose resolved because it was taken late: the follow-up says so, the page did not', async (t) => {
  const { sms } = await outsideChannels(t);
  const alert = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.missed', cause: 'dose.missed:occ-fw', details: { occurrenceId: 'occ-fw', slot: 1 } });
  await hub.features.alerts.delivery.settled();
  t.same(texts(sms), [`medhub: a missed dose for A. M. Open medhub to acknowledge (alert ${alert.id}).`]);

  await hub.features.alerts.resolveCause('dose.missed:occ-fw', 'dose taken late');
  await hub.features.alerts.delivery.settled();
  t.equal(sms.received.length, 2);
  t.equal(texts(sms)[1], `medhub: resolved: a missed dose for A. M., no action needed (alert ${alert.id}).`);
  t.notMatch(JSON.stringify(sms.received[1]?.body), /taken late|Alice|Martin/, 'the resolution note stays inside the hub');
});
