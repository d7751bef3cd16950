/**
 * Deliveries a stopped hub left unfinished (src/features/alerts/resume.ts). Each test's hub records
 * notifications to outside channels whose receivers fail (503), makes their first attempt, and is
 * stopped during the backoff before the second — then started again on the same store, as after a
 * deploy or a crash (`afterAnOutage`). The first hub is given a ten-minute backoff so that it is
 * surely stopped there. A stopping hub lets the attempt it is making finish, but not wait for the
 * next (see the test of that below). What it leaves is exactly what a process killed in the
 * middle of its retries leaves: the notification `pending`, with the attempts made so far.
 *
 * The receivers are real HTTP servers on loopback (allowed by NOTIFY_ALLOWED_PRIVATE_NETWORKS, as in
 * webhooks.test.ts); the job body is called directly with a ManualClock.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { INTERRUPTED, RESUME_AFTER_MS, RESUME_MAX_AGE_MS } from '../../src/features/alerts/resume.js';
import type { AlertRef, RaiseAlert } from '../../src/features/alerts/contract.js';
import type { NotificationDoc } from '../../src/features/alerts/models.js';
import type { Hub } from '../../src/hub.js';
import { verifySignature } from '../../src/ports/adapters/notifiers/index.js';
import { ManualClock } from '../../src/ports/clock.js';
import { eventually } from '../helpers/devices.js';
import { sharedStoreUrl, startTestHub, withDatabase } from '../helpers/hub.js';
import { alertScenario, as, putPatientPolicy } from './helpers.js';

type Scenario = Awaited<ReturnType<typeof alertScenario>>;

const MINUTE = 60_000;
const SECRET = 'whsec-resume-0123456789abcdef';
const ALLOW_LOOPBACK = { NOTIFY_ALLOWED_PRIVATE_NETWORKS: '127.0.0.1' };

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Answered while `up`; 503 (retried) otherwise. */
  up: boolean;
  /** How long it takes to answer. */
  delayMs: number;
}

async function receiver(t: Test, up = false): Promise<Receiver> {
  const self: Receiver = { url: '', received: [], up, delayMs: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      self.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      setTimeout(() => res.writeHead(self.up ? 204 : 503).end(), self.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  self.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/medhub`;
  return self;
}

/** Signed with the endpoint's secret, at the hub's (manual) time. */
const signedBy = (secret: string, r: Received | undefined, clock: ManualClock): boolean =>
  Boolean(r) && verifySignature(secret, { signature: r?.headers['x-medhub-signature'] as string, timestamp: r?.headers['x-medhub-timestamp'] as string }, r?.body ?? '', Math.floor(clock.now().getTime() / 1000));

const attemptsOf = (doc: Pick<NotificationDoc, 'attempts'> | null | undefined) => (doc?.attempts ?? []).map((a) => [a.attempt, a.ok, a.statusCode]);

/** The requests made for one notification (X-Medhub-Delivery is its id). */
const requestsFor = (r: Receiver, id: unknown) => r.received.filter((x) => x.headers['x-medhub-delivery'] === String(id));

const webhookPolicy = (hook: Receiver) => ({ tiers: [{ recipients: [{ careTeam: { priority: 1 } }], channels: ['webhook'] }], webhooks: [{ url: hook.url, secret: SECRET }] });

/**
 * A hub that records notifications (`before`), makes their first attempt and stops before the
 * second; then the same store under a new hub, at the same (manual) time.
 */
/** An alert about the scenario's patient, raised on `hub`. */
function raiseFor(hub: Hub, s: Scenario, type: RaiseAlert['type'], cause: string): Promise<AlertRef> {
  return hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type, cause });
}

async function afterAnOutage<T>(t: Test, clock: ManualClock, before: (hub: Hub, s: Scenario) => Promise<T>): Promise<{ hub: Hub; s: Scenario; env: Record<string, string>; value: T }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-resume-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { ...ALLOW_LOOPBACK, DATA_DIR: dataDir, JWT_SECRET: `resume-${randomUUID()}`, ...(process.env.MONGO_URL ? { MONGO_URL: withDatabase(process.env.MONGO_URL, `medhub_resume_${randomUUID().slice(0, 8)}`) } : {}) };

  const first = await startTestHub(t, { clock, persistentStore: true, env });
  Object.assign(first.features.alerts.delivery.settings, { maxAttempts: 5, backoffMs: 10 * MINUTE });
  const s = await alertScenario(first);
  const value = await before(first, s);
  const { Notification } = first.features.alerts.models;
  // Every pending notification has made its first attempt, and waits for its second.
  await eventually(async () => (await Notification.find({ status: 'pending' }, { attempts: 1 }).lean()).every((n) => n.attempts.length === 1));
  await first.close();

  const hub = await startTestHub(t, { clock, persistentStore: true, env });
  return { hub, s, env, value };
}

t.test('a webhook and an SMS left pending by a stopped hub are delivered once it is back, signed, their attempts numbered on', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t);
  const gateway = await receiver(t);
  const { hub, s, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, {
      tiers: [{ recipients: [{ careTeam: { priority: 2 } }], channels: ['webhook', 'sms'] }],
      webhooks: [{ url: `${hook.url}?token=abc`, secret: SECRET }],
      sms: { url: gateway.url, secret: SECRET },
    });
    return raiseFor(first, s, 'dose.missed', 'dose.missed:resume-1');
  });
  const { Notification } = hub.features.alerts.models;
  const { resumer, delivery } = hub.features.alerts;
  const webhook = await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean();
  const sms = await Notification.findOne({ alertId: alert.id, channel: 'sms' }).lean();
  t.match(webhook, { status: 'pending', event: 'alert.raised', tier: 0 }, 'the stopped hub left the webhook pending');
  t.match(sms, { status: 'pending', userId: s.backup.userId }, 'and the SMS');
  t.same(attemptsOf(webhook), [[1, false, 503]]);
  t.equal(hook.received.length, 1);
  t.equal(gateway.received.length, 1);

  t.equal(await resumer.resumeInterrupted(), 0, 'nothing is resumed before the stale threshold');
  hook.up = true;
  gateway.up = true;
  clock.advance(RESUME_AFTER_MS);
  t.equal(await resumer.resumeInterrupted(), 2, 'both resumed once the threshold has passed');
  await delivery.settled();

  t.equal(hook.received.length, 2, 'one more request to the webhook');
  const resent = hook.received[1] as Received;
  t.ok(signedBy(SECRET, resent, clock), 'signed with the endpoint secret');
  t.notOk(signedBy('another-secret-value', resent, clock), 'and not with another');
  t.match(resent.headers, { 'x-medhub-attempt': '2', 'x-medhub-delivery': String(webhook?._id), 'x-medhub-event': 'alert.raised' });
  t.equal(resent.body, hook.received[0]?.body, 'the very message the interrupted delivery sent');
  t.match(JSON.parse(resent.body), { event: 'alert.raised', notificationId: String(webhook?._id), alertId: alert.id, patientId: s.patient.id, patientInitials: 'A.', type: 'dose.missed', tier: 0, link: `/api/v1/alerts/${alert.id}` });
  t.notOk(resent.body.includes('Alice'), 'no patient name leaves the hub');

  t.equal(gateway.received.length, 2, 'one more request to the SMS gateway');
  const text = gateway.received[1] as Received;
  t.ok(signedBy(SECRET, text, clock), 'the gateway request is signed');
  t.equal(text.headers['x-medhub-attempt'], '2');
  t.match(JSON.parse(text.body), { channel: 'sms', to: '+33612345678', text: /for A\./, message: { notificationId: String(sms?._id), event: 'alert.raised' } });

  for (const id of [webhook?._id, sms?._id]) {
    const doc = await Notification.findById(id).lean();
    t.match(doc, { status: 'delivered', reason: null }, `${doc?.channel} delivered`);
    t.same(attemptsOf(doc), [[1, false, 503], [2, true, 204]], `${doc?.channel}: attempt 2 follows attempt 1`);
    t.same(doc?.completedAt, clock.now());
  }
  const log = await as(hub, s.clinician, 'GET', `/alerts/${alert.id}/notifications`);
  t.equal(log.status, 200);
  t.same(log.body.items.map((n: { status: string }) => n.status), ['delivered', 'delivered'], 'the delivery log shows them delivered');
  t.notOk(JSON.stringify(log.body).includes('resumeClaimedUntil'), 'the claim is not part of the notification view');

  t.equal(await resumer.resumeInterrupted(), 0, 'a second run resumes nothing');
  clock.advance(30 * MINUTE);
  t.equal(await resumer.resumeInterrupted(), 0, 'nor does a later one');
  await delivery.settled();
  t.equal(hook.received.length, 2);
  t.equal(gateway.received.length, 2);
});

t.test('a page for an alert acknowledged meanwhile is not sent: failed, interrupted; one for an alert still active is', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t);
  const { hub, s, value } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, webhookPolicy(hook));
    const acked = await raiseFor(first, s, 'dose.missed', 'dose.missed:resume-acked');
    const active = await raiseFor(first, s, 'device.jam', 'device.jam:resume-dev');
    return { acked, active };
  });
  const { Notification } = hub.features.alerts.models;
  const pageAcked = await Notification.findOne({ alertId: value.acked.id, channel: 'webhook' }).lean();
  const pageActive = await Notification.findOne({ alertId: value.active.id, channel: 'webhook' }).lean();
  t.match(pageAcked, { status: 'pending', event: 'alert.raised' });
  t.match(pageActive, { status: 'pending', event: 'alert.raised' });

  const ack = await as(hub, s.caregiver, 'POST', `/alerts/${value.acked.id}/ack`, { note: 'on my way' });
  t.equal(ack.status, 200, JSON.stringify(ack.body));
  hook.up = true;
  clock.advance(RESUME_AFTER_MS + MINUTE);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 1, 'only the active alert’s page is resumed');
  await hub.features.alerts.delivery.settled();

  t.equal(requestsFor(hook, pageAcked?._id).length, 1, 'nothing more sent for the acknowledged alert');
  const abandoned = await Notification.findById(pageAcked?._id).lean();
  t.match(abandoned, { status: 'failed', reason: INTERRUPTED }, 'marked failed, interrupted');
  t.same(attemptsOf(abandoned), [[1, false, 503]], 'with no attempt added');
  t.same(abandoned?.completedAt, clock.now());

  const sent = requestsFor(hook, pageActive?._id);
  t.equal(sent.length, 2, 'the active alert’s page is sent again');
  t.ok(signedBy(SECRET, sent[1], clock));
  t.match(JSON.parse(sent[1]?.body ?? '{}'), { event: 'alert.raised', alertId: value.active.id });
  t.same(attemptsOf(await Notification.findById(pageActive?._id).lean()), [[1, false, 503], [2, true, 204]]);

  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0);
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 3, 'three requests in all');
  t.match(await Notification.findById(pageAcked?._id).lean(), { status: 'failed', reason: INTERRUPTED });
});

t.test('an SMS whose recipient no longer has a phone is not sent: failed, interrupted', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const gateway = await receiver(t);
  const { hub, s, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, { tiers: [{ recipients: [{ careTeam: { priority: 2 } }], channels: ['sms'] }], sms: { url: gateway.url, secret: SECRET } });
    return raiseFor(first, s, 'dose.missed', 'dose.missed:resume-phone');
  });
  const { Notification } = hub.features.alerts.models;
  const sms = await Notification.findOne({ alertId: alert.id, channel: 'sms' }).lean();
  t.match(sms, { status: 'pending', userId: s.backup.userId });
  // The recipient's phone number was removed while the hub was down.
  await hub.features.identity.models.User.updateOne({ _id: s.backup.userId }, { $set: { phone: null } });

  gateway.up = true;
  clock.advance(RESUME_AFTER_MS);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0);
  await hub.features.alerts.delivery.settled();
  t.equal(gateway.received.length, 1, 'nothing more sent to the gateway');
  const doc = await Notification.findById(sms?._id).lean();
  t.match(doc, { status: 'failed', reason: INTERRUPTED });
  t.same(attemptsOf(doc), [[1, false, 503]]);
});

t.test('a page left pending that would now go out in quiet hours waits for their end', async (t) => {
  // 21:58 in Paris: the alert is raised and its page attempted just before quiet hours (22:00–07:00).
  const clock = new ManualClock('2026-03-10T20:58:00Z');
  const hook = await receiver(t);
  const { hub, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, { ...webhookPolicy(hook), quietHours: { start: '22:00', end: '07:00' } });
    return raiseFor(first, s, 'dose.missed', 'dose.missed:resume-quiet');
  });
  const { Notification } = hub.features.alerts.models;
  const page = await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean();
  t.match(page, { status: 'pending', event: 'alert.raised' });
  hook.up = true;

  clock.advance(RESUME_AFTER_MS + MINUTE); // 22:01 in Paris
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0, 'not sent in quiet hours');
  const held = await Notification.findById(page?._id).lean();
  t.match(held, { status: 'pending' }, 'still pending');
  t.same(held?.resumeClaimedUntil, new Date('2026-03-11T06:00:00Z'), 'held until 07:00 in Paris');
  clock.set('2026-03-11T05:59:00Z');
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0, 'nor a minute before they end');
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 1, 'nothing sent meanwhile');

  clock.set('2026-03-11T06:00:00Z');
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 1, 'sent once they end');
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 2);
  t.ok(signedBy(SECRET, hook.received[1], clock));
  t.same(attemptsOf(await Notification.findById(page?._id).lean()), [[1, false, 503], [2, true, 204]]);
});

t.test('a follow-up left pending is sent although its alert is resolved', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t, true);
  const { hub, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, webhookPolicy(hook));
    const raised = await raiseFor(first, s, 'dose.missed', 'dose.missed:resume-fu');
    const { Notification } = first.features.alerts.models;
    await eventually(async () => (await Notification.findOne({ alertId: raised.id, event: 'alert.raised', channel: 'webhook' }).lean())?.status === 'delivered');
    hook.up = false;
    await first.features.alerts.resolveCause('dose.missed:resume-fu', 'Dose taken late');
    return raised;
  });
  const { Alert, Notification } = hub.features.alerts.models;
  const followUp = await Notification.findOne({ alertId: alert.id, event: 'alert.resolved' }).lean();
  t.match(followUp, { status: 'pending', channel: 'webhook' }, 'the stopped hub left the follow-up pending');
  t.equal((await Alert.findById(alert.id).lean())?.status, 'resolved');

  hook.up = true;
  clock.advance(RESUME_AFTER_MS);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 1);
  await hub.features.alerts.delivery.settled();
  const sent = requestsFor(hook, followUp?._id);
  t.equal(sent.length, 2);
  t.equal(sent[1]?.headers['x-medhub-event'], 'alert.resolved');
  t.ok(signedBy(SECRET, sent[1], clock));
  t.match(JSON.parse(sent[1]?.body ?? '{}'), { event: 'alert.resolved', alertId: alert.id, notificationId: String(followUp?._id) });
  const doc = await Notification.findById(followUp?._id).lean();
  t.equal(doc?.status, 'delivered');
  t.same(attemptsOf(doc), [[1, false, 503], [2, true, 204]]);
});

t.test('a pending notification recorded less than the threshold ago is left alone', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t);
  const { hub, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, webhookPolicy(hook));
    return raiseFor(first, s, 'dose.missed', 'dose.missed:resume-recent');
  });
  const { Notification } = hub.features.alerts.models;
  const before = await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean();
  hook.up = true;

  clock.advance(RESUME_AFTER_MS - 1_000);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0, 'a second short of the threshold: not resumed');
  await hub.features.alerts.delivery.settled();
  t.same(await Notification.findById(before?._id).lean(), before, 'the notification is untouched (no claim, no attempt)');
  t.equal(hook.received.length, 1, 'nothing sent');

  clock.advance(1_000);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 1, 'at the threshold it is');
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 2);
  t.equal((await Notification.findById(before?._id).lean())?.status, 'delivered');
});

t.test('a delivery this process is still attempting is not resumed beside it, however long it takes', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hub = await startTestHub(t, { clock, env: ALLOW_LOOPBACK });
  const s = await alertScenario(hub);
  const hook = await receiver(t);
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, webhookPolicy(hook));
  // Its retries wait ten minutes: the delivery is alive, between attempts, for a long while.
  Object.assign(hub.features.alerts.delivery.settings, { maxAttempts: 5, backoffMs: 10 * MINUTE });
  const alert = await raiseFor(hub, s, 'dose.missed', 'dose.missed:resume-live');
  const { Notification } = hub.features.alerts.models;
  await eventually(async () => (await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean())?.attempts.length === 1);

  clock.advance(24 * 60 * MINUTE);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0, 'not resumed while its own delivery waits to retry');
  t.equal(hook.received.length, 1);
  t.match(await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean(), { status: 'pending', resumeClaimedUntil: null });
});

t.test('a stopping hub records the attempt it is making and does not wait for the next: the notification stays pending', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hub = await startTestHub(t, { clock, env: ALLOW_LOOPBACK });
  const s = await alertScenario(hub);
  const hook = await receiver(t);
  hook.delayMs = 500;
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, webhookPolicy(hook));
  Object.assign(hub.features.alerts.delivery.settings, { maxAttempts: 5, backoffMs: 10 * MINUTE });
  const alert = await raiseFor(hub, s, 'dose.missed', 'dose.missed:resume-stop');
  await eventually(async () => hook.received.length === 1);

  const stopped = hub.features.alerts.delivery.stop(60_000).then(() => 'stopped');
  const outcome = await Promise.race([stopped, delay(20_000, 'still waiting', { ref: false })]);
  t.equal(outcome, 'stopped', 'stopping does not wait out the ten-minute backoff');
  const doc = await hub.features.alerts.models.Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean();
  t.same(attemptsOf(doc), [[1, false, 503]], 'the attempt under way is answered and recorded first');
  t.match(doc, { status: 'pending', completedAt: null }, 'left pending, for the next hub to resume');
  t.equal(hook.received.length, 1, 'and no other attempt is made');
});

t.test('two instances resuming at the same moment deliver each notification once', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t);
  const { hub, env, value: alerts } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, webhookPolicy(hook));
    const raised = [];
    for (let i = 0; i < 4; i += 1) raised.push(await raiseFor(first, s, 'dose.missed', `dose.missed:resume-two-${i}`));
    return raised;
  });
  // A second instance on the same store (stopped before the first, whose store it uses).
  const other = await startTestHub(t, { clock, env: { ...ALLOW_LOOPBACK, JWT_SECRET: env.JWT_SECRET as string, MONGO_URL: sharedStoreUrl(hub) } });
  t.teardown(() => other.close());
  const { Notification } = hub.features.alerts.models;
  const ids = (await Notification.find({ alertId: { $in: alerts.map((a) => a.id) }, channel: 'webhook' }, { _id: 1 }).lean()).map((n) => String(n._id));
  t.equal(ids.length, 4);
  t.equal(hook.received.length, 4, 'each attempted once before the outage');

  // The claims each instance tries (one findOneAndUpdate each), to see that the runs did contend.
  let claims = 0;
  for (const connection of [hub.features.alerts.models.Notification.db, other.features.alerts.models.Notification.db]) {
    connection.set('debug', (collection: string, method: string) => {
      if (collection === Notification.collection.collectionName && method === 'findOneAndUpdate') claims += 1;
    });
    t.teardown(() => connection.set('debug', false));
  }

  hook.up = true;
  clock.advance(RESUME_AFTER_MS);
  const runs = await Promise.all([hub.features.alerts.resumer.resumeInterrupted(), other.features.alerts.resumer.resumeInterrupted(), hub.features.alerts.resumer.resumeInterrupted(), other.features.alerts.resumer.resumeInterrupted()]);
  await Promise.all([hub.features.alerts.delivery.settled(), other.features.alerts.delivery.settled()]);
  t.equal(runs.reduce((a, b) => a + b, 0), 4, `four resumed in all (${runs.join(', ')})`);
  t.ok(claims > ids.length, `the runs contended: ${claims} claims tried for ${ids.length} notifications`);

  for (const id of ids) {
    const sent = requestsFor(hook, id);
    t.same(sent.map((r) => r.headers['x-medhub-attempt']), ['1', '2'], `${id}: attempt 2 sent once`);
    t.ok(signedBy(SECRET, sent[1], clock));
    t.same(attemptsOf(await Notification.findById(id).lean()), [[1, false, 503], [2, true, 204]]);
  }
  t.equal(hook.received.length, 8);
  t.same(await Promise.all([hub.features.alerts.resumer.resumeInterrupted(), other.features.alerts.resumer.resumeInterrupted()]), [0, 0], 'nothing left to resume');
});

t.test('the job reads the pending notifications through their partial index', async (t) => {
  const hub = await startTestHub(t);
  const { Notification } = hub.features.alerts.models;
  const now = new Date();
  const filter = { status: 'pending', $or: [{ resumeClaimedUntil: null }, { resumeClaimedUntil: { $lte: now } }], createdAt: { $lte: new Date(now.getTime() - RESUME_AFTER_MS) } };
  const plan = JSON.stringify((await Notification.collection.find(filter).explain('queryPlanner')).queryPlanner);
  t.match(plan, /IXSCAN/, 'an index scan');
  t.match(plan, /"indexName":"status_1"/, 'of the {status} index');
  t.match(plan, /"isPartial":true/, 'partial: the pending notifications only');
});

t.test('a notification left pending for more than a day is not sent any more: failed, interrupted', async (t) => {
  const clock = new ManualClock('2026-03-10T12:00:00Z');
  const hook = await receiver(t);
  const { hub, value: alert } = await afterAnOutage(t, clock, async (first, s) => {
    await putPatientPolicy(first, s.clinician.token, s.patient.id, webhookPolicy(hook));
    return raiseFor(first, s, 'dose.missed', 'dose.missed:resume-old');
  });
  const { Notification } = hub.features.alerts.models;
  hook.up = true;
  // The hub stayed down (or this job did not exist) for a day and more.
  clock.advance(RESUME_MAX_AGE_MS + MINUTE);
  t.equal(await hub.features.alerts.resumer.resumeInterrupted(), 0, 'nothing resumed');
  await hub.features.alerts.delivery.settled();
  t.equal(hook.received.length, 1, 'nothing sent after the first attempt');
  t.match(await Notification.findOne({ alertId: alert.id, channel: 'webhook' }).lean(), { status: 'failed', reason: INTERRUPTED });
});
