import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { AppError } from '../../src/errors.js';
import { startEmbeddedStore } from '../../src/store/embedded/index.js';
import { connectMqtt, connectSocket, nextEvent, request } from '../helpers/clients.js';
import { startTestHub, type Teardown } from '../helpers/hub.js';
import { createOrganisation } from '../helpers/factories.js';

t.test('a started hub is healthy, ready and exposes metrics', async (t) => {
  const hub = await startTestHub(t);

  const health = await request(hub, 'GET', '/health');
  t.equal(health.status, 200);
  t.equal(health.body.status, 'ok');

  const ready = await request<{ status: string; checks: Record<string, { ok: boolean }>; mqtt: { port: number } }>(hub, 'GET', '/ready');
  t.equal(ready.status, 200);
  t.equal(ready.body.status, 'ready');
  t.equal(ready.body.checks.store?.ok, true, 'store reachable');
  t.equal(ready.body.checks.mqtt?.ok, true, 'broker listening');
  t.equal(ready.body.mqtt.port, hub.mqttPort, '/ready reports the real MQTT port');

  const metrics = await fetch(`${hub.urls.http}/metrics`);
  const text = await metrics.text();
  t.equal(metrics.status, 200);
  t.match(text, /medhub_http_request_duration_seconds/);
  t.match(text, /medhub_nodejs_eventloop_lag_seconds/);
  t.match(text, /medhub_store_command_duration_seconds_bucket\{.*command="ping"/, 'store latency is measured');
  if (process.platform === 'linux') t.match(text, /^medhub_process_open_fds [1-9]\d*$/m, 'open file descriptors are counted');
  t.notMatch(text, /nodejs_active_(handles|resources)/, 'no gauge walks every connection at each scrape');
});

t.test('a socket event nobody handles is answered with an error, not left to the client’s timeout', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  const socket = connectSocket(t, hub, { auth: { token: admin.token } });
  await nextEvent(socket, 'connect');
  const answer = await socket.timeout(5000).emitWithAck('no:such-event', { any: 'thing' });
  t.match(answer, { ok: false, error: { code: 'not_found', message: 'No such event: no:such-event' } });
  socket.emit('no:such-event-either');
  const known = await socket.timeout(5000).emitWithAck('patient:subscribe', {});
  t.match(known, { ok: false, error: { code: 'validation_failed' } }, 'known events are answered by their handlers, as before');
});

t.test('HTTP errors are RFC 7807 problem documents with a request id', async (t) => {
  const hub = await startTestHub(t);

  const missing = await request(hub, 'GET', '/api/v1/nothing-here');
  t.equal(missing.status, 404);
  t.match(missing.headers.get('content-type'), /^application\/problem\+json/);
  t.match(missing.body, { type: 'https://medhub.dev/problems/not_found', title: String, status: 404, code: 'not_found', instance: '/api/v1/nothing-here' });
  t.equal(missing.body.requestId, missing.headers.get('x-request-id'));

  const wrongMethod = await request(hub, 'POST', '/health', { body: {} });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.body.code, 'method_not_allowed');
  t.match(wrongMethod.headers.get('content-type'), /^application\/problem\+json/);
  t.match(wrongMethod.headers.get('allow'), /\bGET\b/, 'with the methods it takes (RFC 9110)');
  const patients = await request(hub, 'DELETE', '/api/v1/patients');
  t.equal(patients.status, 405);
  t.match(patients.headers.get('allow'), /\bGET\b.*\bPOST\b|\bPOST\b.*\bGET\b/);
  const options = await fetch(`${hub.urls.api}/patients`, { method: 'OPTIONS' });
  t.equal(options.status, 200, 'OPTIONS says what a path takes');
  t.match(options.headers.get('allow'), /\bPOST\b/);
  const unknown = await request(hub, 'PROPFIND', '/api/v1/patients');
  t.match(unknown, { status: 501, body: { code: 'not_implemented' } }, 'a method the hub does not know at all');
  const nowhere = await request(hub, 'PROPFIND', '/nope');
  t.match(nowhere, { status: 404, body: { code: 'not_found' } }, 'on a path no route has, whatever the method, not found');
  t.equal(nowhere.headers.get('allow'), null);

  const traced = await request(hub, 'GET', '/health', { headers: { 'x-request-id': 'trace-abc-12345' } });
  t.equal(traced.headers.get('x-request-id'), 'trace-abc-12345', 'a well-formed client request id is kept');
});

/** MQTT.js rejects a SUBACK 0x80 and attaches the SUBACK packet to the error. */
const refusedSubscription = { message: 'Subscribe error: Unspecified error' } as const;

t.test('the broker refuses unknown clients and enforces the device namespace', async (t) => {
  const hub = await startTestHub(t);

  await t.rejects(connectMqtt(t, hub, { clientId: 'dev-1', username: 'dev-1', password: 'x' }), { code: 4 }, 'an unknown device → bad credentials');

  // The transport's own policy, with an authenticator of the test's (the devices feature installs the real one).
  hub.context.mqtt.setAuthenticator(async ({ clientId, password }) => {
    if (password?.toString() !== 'right') throw new AppError('invalid_credentials');
    return { kind: 'device', deviceId: clientId };
  });
  await t.rejects(connectMqtt(t, hub, { clientId: 'dev-1', username: 'dev-1', password: 'wrong' }), { code: 4 }, 'bad password → 4');
  await t.rejects(connectMqtt(t, hub, { clientId: 'dev-2', username: 'dev-1', password: 'right' }), { code: 2 }, 'client id ≠ username → 2');
  await t.rejects(connectMqtt(t, hub, { clientId: '', clean: true, username: '', password: 'right' }), { code: 2 }, 'empty client id → 2');

  const device = await connectMqtt(t, hub, { clientId: 'dev-1', username: 'dev-1', password: 'right' });
  const own = await device.subscribeAsync('v1/devices/dev-1/commands', { qos: 1 });
  t.equal(own[0]?.qos, 1, 'own namespace granted');
  // MQTT.js rejects on a SUBACK return code 0x80 and attaches the SUBACK packet.
  await t.rejects(device.subscribeAsync('v1/devices/dev-2/commands', { qos: 1 }), refusedSubscription, 'another device namespace refused with SUBACK 0x80');
  await t.rejects(device.subscribeAsync('v1/devices/+/commands', { qos: 1 }), refusedSubscription, 'a wildcard across devices is refused');
  await t.rejects(device.subscribeAsync('#', { qos: 1 }), refusedSubscription, 'and so is everything');
  t.ok(device.connected, 'a refused subscription keeps the connection');

  const closed = nextEvent(device, 'close');
  device.publish('v1/devices/dev-2/events', '{}', { qos: 1 });
  await closed;
  t.pass('publishing into another device namespace disconnects');
});

t.test('EMBEDDED_STORE_THREAD=worker: the hub runs with its store on a worker thread', { skip: process.env.MONGO_URL ? 'about the embedded store' : false }, async (t) => {
  const hub = await startTestHub(t, { persistentStore: true, env: { EMBEDDED_STORE_THREAD: 'worker' } });
  const ready = await request<{ checks: Record<string, { ok: boolean }> }>(hub, 'GET', '/ready');
  t.equal(ready.body.checks.store?.ok, true, 'store reachable');
  const admin = await createOrganisation(hub);
  const me = await request<{ organisationId: string }>(hub, 'GET', '/api/v1/auth/me', { token: admin.token });
  t.equal(me.status, 200);
  t.equal(me.body.organisationId, admin.organisationId, 'data written and read back through the thread');
  // Timed inside the store and sent over in batches (at most 50 ms later), not by the driver.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const metrics = await (await fetch(`${hub.urls.http}/metrics`)).text();
  t.match(metrics, /medhub_store_command_duration_seconds_count\{command="insert",outcome="ok"\} [1-9]/, 'the thread reports its commands to the store metric');
  const busy = Number(/^medhub_store_thread_event_loop_utilization (\S+)$/m.exec(metrics)?.[1]);
  t.ok(busy > 0 && busy <= 1, `how busy the store's thread was is measured (${busy})`);
  t.equal(hub.context.store.connection.getClient().options.monitorCommands, false, 'so the driver does not decode every reply a second time to time it');
});

t.test('a hub that fails to start releases its store: the data directory can be opened again', { skip: process.env.MONGO_URL ? 'about the embedded store' : false }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-failed-start-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // Nothing listens on port 1: the hub fails after its store (on its thread) has started.
  await t.rejects(startTestHub(t, { persistentStore: true, env: { DATA_DIR: dataDir, REDIS_URL: 'redis://127.0.0.1:1' } }));
  const store = await startEmbeddedStore({ dataDir: join(dataDir, 'store'), port: 0, host: '127.0.0.1' });
  t.ok(store.uri, 'the directory is not locked by a store left running');
  await store.close();
});

t.test('a hub whose feature fails to start releases its Redis connection and its store', { skip: process.env.MONGO_URL ? 'about the embedded store' : false }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-failed-feature-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // Data the users' unique email index cannot be built on (two accounts with one address).
  const seeded = await startEmbeddedStore({ dataDir: join(dataDir, 'store'), port: 0, host: '127.0.0.1' });
  const client = await MongoClient.connect(seeded.uri);
  await client.db('medhub').collection('users').insertMany([{ email: 'twice@example.org' }, { email: 'twice@example.org' }]);
  await client.close();
  await seeded.close();

  const prefix = `test-failed-${randomUUID().slice(0, 8)}:`;
  const name = `medhub@${prefix}`;
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  await redis.connect();
  t.teardown(() => redis.quit());
  const hubClients = async (): Promise<number> => ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;

  await t.rejects(startTestHub(t, { persistentStore: true, env: { DATA_DIR: dataDir, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: prefix } }), /E11000/, 'the index cannot be built: the hub does not start');
  let open = await hubClients();
  for (let i = 0; i < 100 && open > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    open = await hubClients();
  }
  t.equal(open, 0, 'its Redis connection is closed');
  const store = await startEmbeddedStore({ dataDir: join(dataDir, 'store'), port: 0, host: '127.0.0.1' });
  t.ok(store.uri, 'and its data directory can be opened again');
  await store.close();
});

/** A hub refusing MQTT packets over 4 KB, and a raw TCP connection to its broker. */
async function guardedHubAndRawSocket(t: Teardown) {
  const hub = await startTestHub(t, { env: { MQTT_MAX_PACKET_BYTES: '4096' } });
  const socket = net.connect(hub.mqttPort, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await nextEvent(socket, 'connect');
  return { hub, socket };
}

t.test('an MQTT packet declaring more than the limit is cut off before its body arrives', async (t) => {
  const { hub, socket } = await guardedHubAndRawSocket(t);
  // CONNECT fixed header declaring a 200 MB remaining length (varint 0x80 0x80 0xe4 0x5f = 200,000,000).
  socket.write(Buffer.from([0x10, 0x80, 0x84, 0xaf, 0x5f]));
  await nextEvent(socket, 'close');
  t.pass('connection closed');
  const metrics = await (await fetch(`${hub.urls.http}/metrics`)).text();
  t.match(metrics, /medhub_mqtt_rejected_total\{reason="packet_too_large"\} 1/);
});

t.test('the packet-size guard follows a fixed header split across reads, and guards MQTT over WebSocket too', async (t) => {
  const { hub, socket } = await guardedHubAndRawSocket(t);
  socket.setNoDelay(true);
  // A CONNECT whose Remaining Length varint (200 MB) arrives in two writes.
  socket.write(Buffer.from([0x10, 0x80]));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(socket.destroyed, 'half a fixed header is not a verdict');
  socket.write(Buffer.from([0x84, 0xaf, 0x5f]));
  await nextEvent(socket, 'close');
  t.pass('TCP connection closed once the declared length was known');

  const ws = new WebSocket(hub.urls.mqttWs, 'mqtt');
  t.teardown(() => ws.terminate());
  await nextEvent(ws, 'open');
  ws.send(Buffer.from([0x10, 0x80, 0x84, 0xaf, 0x5f]));
  await nextEvent(ws, 'close');
  t.pass('WebSocket connection closed');
  const metrics = await (await fetch(`${hub.urls.http}/metrics`)).text();
  t.match(metrics, /medhub_mqtt_rejected_total\{reason="packet_too_large"\} 2/);
});

t.test('MQTT over WebSocket reaches the same broker', async (t) => {
  const hub = await startTestHub(t);
  hub.context.mqtt.setAuthenticator(async ({ clientId }) => ({ kind: 'device', deviceId: clientId }));
  const viaUrl = await import('mqtt').then((mqtt) => mqtt.connectAsync(hub.urls.mqttWs, { protocolVersion: 4, clientId: 'ws-dev-2', username: 'ws-dev-2', password: 'x', reconnectPeriod: 0 }));
  t.teardown(() => viaUrl.endAsync(true));
  t.ok(viaUrl.connected, 'connected through ws://…/mqtt');
});

t.test('sockets must authenticate in the handshake; handlers answer through acks', async (t) => {
  const hub = await startTestHub(t);
  const anonymous = connectSocket(t, hub);
  const refused = await nextEvent<Error & { data?: { code: string } }>(anonymous, 'connect_error');
  t.equal(refused.data?.code, 'unauthenticated');
  const bad = connectSocket(t, hub, { auth: { token: 'bad.token.here' } });
  t.equal((await nextEvent<Error & { data?: { code: string } }>(bad, 'connect_error')).data?.code, 'unauthenticated');

  hub.context.sockets.handle<{ n: number }>('echo', {
    handle: (payload) => {
      if (payload.n < 0) throw new AppError('conflict', 'negative');
      if (payload.n === 0) throw new Error('internal detail that must not leak');
      return { n: payload.n };
    },
  });
  const admin = await createOrganisation(hub);
  const good = connectSocket(t, hub, { auth: { token: admin.token } });
  await nextEvent(good, 'connect');
  t.same(await good.timeout(5000).emitWithAck('echo', { n: 3 }), { ok: true, n: 3 }, 'handler answers through the ack');
  t.same(await good.timeout(5000).emitWithAck('echo', { n: -1 }), { ok: false, error: { code: 'conflict', message: 'negative' } });
  t.same(await good.timeout(5000).emitWithAck('echo', { n: 0 }), { ok: false, error: { code: 'internal', message: 'Internal error' } }, 'internals never leak');
});

t.test('the hub stops cleanly with clients attached', async (t) => {
  const hub = await startTestHub(t);
  hub.context.mqtt.setAuthenticator(async ({ clientId }) => ({ kind: 'device', deviceId: clientId }));
  const admin = await createOrganisation(hub);
  const device = await connectMqtt(t, hub, { clientId: 'd1', username: 'd1', password: 'x' });
  const socket = connectSocket(t, hub, { auth: { token: admin.token } });
  await nextEvent(socket, 'connect');

  const deviceClosed = nextEvent(device, 'close');
  const socketGone = nextEvent(socket, 'disconnect');
  const started = Date.now();
  await hub.close();
  await Promise.all([deviceClosed, socketGone]);
  t.ok(Date.now() - started < 5000, 'stopped within 5 s');
  await t.rejects(fetch(`${hub.urls.http}/health`), 'HTTP no longer listening');
});
