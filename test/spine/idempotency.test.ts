/**
 * Idempotency-Key on REST writes, over real HTTP against a real hub: a retry replays the stored answer
 * byte for byte and runs nothing twice; misuse is 422, a concurrent duplicate 409 (or a replay), and
 * what must not be pinned (5xx, 403, streams) is not.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { AppError } from '../../src/errors.js';
import type { Hub } from '../../src/hub.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createHttpApp, mountRouters } from '../../src/transports/http/app.js';
import { idempotencyModel, keyHash, mountIdempotency } from '../../src/transports/http/idempotency.js';
import { request } from '../helpers/clients.js';
import { doseTaken, provisionDevice } from '../helpers/devices.js';
import { careScenario, createOrganisation, type Login } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** fetch keeping the raw text, to compare a replay with the original byte for byte. */
async function send(base: string, method: string, path: string, options: { token?: string; auth?: string; key?: string; body?: unknown } = {}): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.auth) headers.authorization = options.auth;
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
}

const key = (): string => randomUUID();

async function patientsNamed(hub: Hub, who: Login, name: string): Promise<number> {
  const list = await request(hub, 'GET', '/api/v1/patients?limit=200', { token: who.token });
  return (list.body.items as { name: string }[]).filter((p) => p.name === name).length;
}

t.test('Idempotency-Key on the hub’s write routes', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const api = (method: string, path: string, options: Parameters<typeof send>[3]) => send(hub.urls.http, method, `/api/v1${path}`, options);
  const Records = idempotencyModel(hub.context.store.connection);

  t.test('first call stores; a retry replays it byte for byte and creates nothing', async (t) => {
    const k = key();
    const body = { name: 'Idem Patient', timezone: 'Europe/Paris' };
    const first = await api('POST', '/patients', { token: s.clinician.token, key: k, body });
    t.equal(first.status, 201);
    t.equal(first.headers.get('idempotent-replayed'), null, 'the first answer is not a replay');
    const again = await api('POST', '/patients', { token: s.clinician.token, key: k, body: { timezone: 'Europe/Paris', name: 'Idem Patient' } });
    t.equal(again.status, 201);
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.equal(again.text, first.text, 'same bytes (key order in the request body does not matter)');
    t.equal(again.json.id, first.json.id, 'same patient');
    t.equal(again.headers.get('content-type'), first.headers.get('content-type'));
    t.not(again.headers.get('x-request-id'), first.headers.get('x-request-id'), 'each exchange keeps its own request id');
    t.equal(await patientsNamed(hub, s.clinician, 'Idem Patient'), 1, 'one patient');
    const stored = await Records.findOne({ keyHash: keyHash(`user:${s.clinician.userId}`, k) }).lean();
    t.match(stored, { state: 'done', status: 201, method: 'POST', target: '/api/v1/patients' });
    t.notOk(JSON.stringify(stored).includes(k), 'the key itself is not stored');
  });

  t.test('provisioning a device twice with one key gives one device and the same secret', async (t) => {
    const k = key();
    const body = { serial: `SN-IDEM-${k.slice(0, 6)}`, patientId: s.patient.id };
    const first = await api('POST', '/devices', { token: s.clinician.token, key: k, body });
    const again = await api('POST', '/devices', { token: s.clinician.token, key: k, body });
    t.equal(first.status, 201);
    t.equal(again.status, 201, 'not the 409 a second provisioning of the serial would be');
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.equal(again.text, first.text);
    t.equal(again.headers.get('cache-control'), 'no-store', 'selected headers are replayed');
    const stored = await Records.findOne({ keyHash: keyHash(`user:${s.clinician.userId}`, k) }).lean();
    const sealed = stored?.body as unknown as Buffer | { buffer: Uint8Array };
    t.notOk(Buffer.from(Buffer.isBuffer(sealed) ? sealed : sealed.buffer).toString('latin1').includes(first.json.secret as string), 'the stored secret is sealed');
    const devices = await request(hub, 'GET', `/api/v1/devices?patientId=${s.patient.id}`, { token: s.clinician.token });
    t.equal((devices.body.items as { serial: string }[]).filter((d) => d.serial === body.serial).length, 1);
  });

  t.test('the same key for another body, path or method is 422', async (t) => {
    const k = key();
    t.equal((await api('POST', '/patients', { token: s.clinician.token, key: k, body: { name: 'Reuse A', timezone: 'UTC' } })).status, 201);
    const otherBody = await api('POST', '/patients', { token: s.clinician.token, key: k, body: { name: 'Reuse B', timezone: 'UTC' } });
    t.equal(otherBody.status, 422);
    t.match(otherBody.headers.get('content-type'), /^application\/problem\+json/);
    t.match(otherBody.json, { code: 'idempotency_key_reused', status: 422, type: 'https://medhub.dev/problems/idempotency_key_reused' });
    const otherPath = await api('PATCH', `/patients/${s.patient.id}`, { token: s.clinician.token, key: k, body: { name: 'Reuse A', timezone: 'UTC' } });
    t.equal(otherPath.status, 422);
    t.equal(await patientsNamed(hub, s.clinician, 'Reuse B'), 0, 'the second request did not run');
  });

  t.test('keys belong to their caller', async (t) => {
    const k = key();
    const body = { name: 'Shared Key', timezone: 'UTC' };
    const mine = await api('POST', '/patients', { token: s.clinician.token, key: k, body });
    const theirs = await api('POST', '/patients', { token: s.admin.token, key: k, body });
    t.equal(theirs.status, 201);
    t.equal(theirs.headers.get('idempotent-replayed'), null, 'not the other user’s answer');
    t.not(theirs.json.id, mine.json.id);
    t.equal(await patientsNamed(hub, s.admin, 'Shared Key'), 2);
  });

  t.test('concurrent duplicates: one runs, the others get 409 or its replay', async (t) => {
    const k = key();
    const body = { name: 'Concurrent', timezone: 'UTC' };
    const answers = await Promise.all(Array.from({ length: 8 }, () => api('POST', '/patients', { token: s.clinician.token, key: k, body })));
    const created = answers.filter((a) => a.status === 201);
    const busy = answers.filter((a) => a.status === 409);
    t.equal(created.length + busy.length, answers.length, `only 201 or 409 (got ${answers.map((a) => a.status).join(',')})`);
    t.equal(created.filter((a) => a.headers.get('idempotent-replayed') === null).length, 1, 'exactly one ran');
    t.equal(new Set(created.map((a) => a.json.id)).size, 1, 'every 201 is the same patient');
    for (const answer of busy) {
      t.match(answer.json, { code: 'conflict' });
      t.equal(answer.headers.get('retry-after'), '1');
    }
    t.equal(await patientsNamed(hub, s.clinician, 'Concurrent'), 1);
  });

  t.test('in flight on another instance: 409, and a lease that ran out is taken over', async (t) => {
    const k = key();
    const body = { name: 'Leased', timezone: 'UTC' };
    const scope = `user:${s.clinician.userId}`;
    const fingerprint = { method: 'POST', target: '/api/v1/patients', bodyHash: createHash('sha256').update('{"name":"Leased","timezone":"UTC"}').digest('hex') };
    const record = await Records.create({ scope, keyHash: keyHash(scope, k), ...fingerprint, state: 'processing', owner: 'other-instance', lockedUntil: new Date(Date.now() + 60_000), expiresAt: new Date(Date.now() + 86_400_000) });
    const busy = await api('POST', '/patients', { token: s.clinician.token, key: k, body });
    t.equal(busy.status, 409);
    t.equal(busy.headers.get('retry-after'), '1');
    t.equal(await patientsNamed(hub, s.clinician, 'Leased'), 0);
    await Records.updateOne({ _id: record._id }, { $set: { lockedUntil: new Date(Date.now() - 1000) } });
    const taken = await api('POST', '/patients', { token: s.clinician.token, key: k, body });
    t.equal(taken.status, 201, 'the crashed owner no longer blocks the key');
    t.equal((await api('POST', '/patients', { token: s.clinician.token, key: k, body })).text, taken.text);
    t.equal(await patientsNamed(hub, s.clinician, 'Leased'), 1);
  });

  t.test('a malformed key is 400', async (t) => {
    for (const bad of ['', 'a b', 'x'.repeat(256), 'caf\u00e9']) {
      let answer: RawResponse;
      try {
        answer = await api('POST', '/patients', { token: s.clinician.token, key: bad, body: { name: 'Bad Key', timezone: 'UTC' } });
      } catch {
        continue; // fetch itself refuses some values (non-Latin-1); the hub never sees them
      }
      t.equal(answer.status, 400, JSON.stringify(bad).slice(0, 20));
      t.match(answer.json, { code: 'validation_failed', detail: /Idempotency-Key/ });
    }
    t.equal((await api('POST', '/patients', { token: s.clinician.token, key: 'x'.repeat(255), body: { name: 'Long Key', timezone: 'UTC' } })).status, 201, '255 characters is fine');
    t.equal(await patientsNamed(hub, s.clinician, 'Bad Key'), 0);
  });

  t.test('deterministic client errors are replayed; 403 is not stored', async (t) => {
    const serial = `SN-TAKEN-${key().slice(0, 6)}`;
    await provisionDevice(hub, s.clinician, { serial });
    const k = key();
    const conflict = await api('POST', '/devices', { token: s.clinician.token, key: k, body: { serial } });
    t.equal(conflict.status, 409);
    const again = await api('POST', '/devices', { token: s.clinician.token, key: k, body: { serial } });
    t.equal(again.status, 409);
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.equal(again.text, conflict.text, 'the same problem document, request id included');
    t.match(again.headers.get('content-type'), /^application\/problem\+json/);

    const k2 = key();
    const missing = await api('PATCH', '/patients/000000000000000000000000', { token: s.clinician.token, key: k2, body: { name: 'x' } });
    t.equal(missing.status, 404);
    t.equal((await api('PATCH', '/patients/000000000000000000000000', { token: s.clinician.token, key: k2, body: { name: 'x' } })).headers.get('idempotent-replayed'), 'true');

    const k3 = key();
    const denied = await api('POST', '/devices', { token: s.caregiver.token, key: k3, body: { serial: 'SN-DENIED' } });
    t.equal(denied.status, 403);
    const retried = await api('POST', '/devices', { token: s.caregiver.token, key: k3, body: { serial: 'SN-DENIED' } });
    t.equal(retried.status, 403);
    t.equal(retried.headers.get('idempotent-replayed'), null, 'ran again: the key was released');
    t.equal(await Records.countDocuments({ keyHash: keyHash(`user:${s.caregiver.userId}`, k3) }), 0);
  });

  t.test('a DELETE with an empty 204 is replayed as one', async (t) => {
    await request(hub, 'POST', `/api/v1/patients/${s.otherPatient.id}/care-team`, { token: s.clinician.token, body: { userId: s.outsider.userId, relation: 'friend', priority: 2 } });
    const k = key();
    const path = `/patients/${s.otherPatient.id}/care-team/${s.outsider.userId}`;
    const first = await api('DELETE', path, { token: s.clinician.token, key: k });
    t.equal(first.status, 204);
    const again = await api('DELETE', path, { token: s.clinician.token, key: k });
    t.equal(again.status, 204);
    t.equal(again.headers.get('idempotent-replayed'), 'true');
    t.equal(again.text, '');
  });

  t.test('device-authenticated routes are keyed by the device', async (t) => {
    const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
    const auth = `Basic ${Buffer.from(`${device.id}:${device.secret}`).toString('base64')}`;
    const event = doseTaken();
    const k = key();
    const first = await api('POST', `/devices/${device.id}/events`, { auth, key: k, body: event });
    t.same([first.status, first.json], [201, { stored: true, duplicate: false }]);
    const again = await api('POST', `/devices/${device.id}/events`, { auth, key: k, body: event });
    t.same([again.status, again.json, again.headers.get('idempotent-replayed')], [201, { stored: true, duplicate: false }, 'true'], 'the first answer, not "duplicate"');
    t.equal(await Records.countDocuments({ scope: `device:${device.id}` }), 1);
  });

  t.test('chat: a key on a streamed answer is refused; a JSON answer is replayed', async (t) => {
    const conversation = await request(hub, 'POST', '/api/v1/conversations', { token: s.patientUser.token, body: { patientId: s.patient.id } });
    const message = { conversationId: conversation.body.id as string, content: 'Hello' };
    const streamed = await api('POST', '/chat/message', { token: s.patientUser.token, key: key(), body: { ...message, stream: true } });
    t.equal(streamed.status, 400);
    t.match(streamed.json, { code: 'validation_failed', detail: /stream/ });
    const k = key();
    const first = await api('POST', '/chat/message', { token: s.patientUser.token, key: k, body: message });
    t.equal(first.status, 200);
    const again = await api('POST', '/chat/message', { token: s.patientUser.token, key: k, body: message });
    t.equal(again.text, first.text);
    const messages = await request(hub, 'GET', `/api/v1/conversations/${message.conversationId}/messages`, { token: s.patientUser.token });
    t.equal(messages.body.items.length, 2, 'one question, one answer');
  });

  t.test('without the header nothing changes', async (t) => {
    const body = { name: 'No Key', timezone: 'UTC' };
    const a = await api('POST', '/patients', { token: s.clinician.token, body });
    const b = await api('POST', '/patients', { token: s.clinician.token, body });
    t.same([a.status, b.status], [201, 201]);
    t.not(a.json.id, b.json.id);
    t.equal(b.headers.get('idempotent-replayed'), null);
    t.equal(await patientsNamed(hub, s.clinician, 'No Key'), 2);
  });

  t.test('sign-in ignores the key (no caller to scope it to; the answer is credentials)', async (t) => {
    const k = key();
    const one = await api('POST', '/auth/login', { key: k, body: { email: s.admin.email, password: 'correct horse battery staple' } });
    const two = await api('POST', '/auth/login', { key: k, body: { email: s.admin.email, password: 'correct horse battery staple' } });
    t.same([one.status, two.status], [200, 200]);
    t.not(one.json.refreshToken, two.json.refreshToken, 'two sessions: nothing was stored');
    t.equal(two.headers.get('idempotent-replayed'), null);
  });
});

t.test('transient failures are not stored: 5xx, 429 and unreplayable bodies release the key', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  const logger = hub.context.logger;
  const http = createHttpApp(hub.context.config, logger, createMetrics());
  const calls = { flaky: 0, busy: 0, silent: 0, stream: 0 };
  const asUser = async (ctx: { state: Record<string, unknown> }, next: () => Promise<unknown>) => {
    ctx.state.principal = { userId: admin.userId };
    await next();
  };
  http.api.post('/flaky', asUser, async (ctx) => {
    if (++calls.flaky === 1) throw new Error('the store went away');
    ctx.status = 201;
    ctx.body = { attempt: calls.flaky };
  });
  http.api.post('/busy', asUser, async (ctx) => {
    if (++calls.busy === 1) throw new AppError('rate_limited', 'slow down', { headers: { 'Retry-After': '1' } });
    ctx.body = { attempt: calls.busy };
  });
  http.api.post('/silent', asUser, async (ctx) => {
    // Answers nothing the first time, as the chat route does when the client went away mid-answer.
    if (++calls.silent > 1) ctx.body = { attempt: calls.silent };
  });
  http.api.post('/raw', asUser, async (ctx) => {
    calls.stream++;
    ctx.body = new Blob(['not replayable']);
  });
  await mountIdempotency(http.api, { connection: hub.context.store.connection, clock: hub.context.clock, logger });
  mountRouters(http);
  const server = http.app.listen(0, '127.0.0.1');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const k = key();
  const failed = await send(base, 'POST', '/api/v1/flaky', { key: k, body: { a: 1 } });
  t.equal(failed.status, 500);
  t.match(failed.json, { code: 'internal' });
  const retried = await send(base, 'POST', '/api/v1/flaky', { key: k, body: { a: 1 } });
  t.same([retried.status, retried.json], [201, { attempt: 2 }], 'the retry ran');
  const replayed = await send(base, 'POST', '/api/v1/flaky', { key: k, body: { a: 1 } });
  t.same([replayed.status, replayed.json, replayed.headers.get('idempotent-replayed')], [201, { attempt: 2 }, 'true'], 'and is what is kept');
  t.equal(calls.flaky, 2);

  const k2 = key();
  t.equal((await send(base, 'POST', '/api/v1/busy', { key: k2, body: {} })).status, 429);
  t.same((await send(base, 'POST', '/api/v1/busy', { key: k2, body: {} })).json, { attempt: 2 });

  const k4 = key();
  t.equal((await send(base, 'POST', '/api/v1/silent', { key: k4, body: {} })).status, 404);
  t.same((await send(base, 'POST', '/api/v1/silent', { key: k4, body: {} })).json, { attempt: 2 }, 'no answer is not an answer to replay');

  const k3 = key();
  await send(base, 'POST', '/api/v1/raw', { key: k3, body: {} });
  const raw = await send(base, 'POST', '/api/v1/raw', { key: k3, body: {} });
  t.equal(raw.text, 'not replayable');
  t.equal(calls.stream, 2, 'a body that is not a value is not stored');
});
