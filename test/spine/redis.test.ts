/**
 * Two hubs sharing Redis (127.0.0.1:6379), as two instances behind a load
 * balancer would: /ready checks Redis, Socket.IO rooms span both instances,
 * and a job runs on one instance at a time.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { connectSocket, nextEvent, request, roomsJoined } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { recoversWithoutGap } from '../helpers/recovery.js';
import { createOrganisation } from '../helpers/factories.js';
import { rooms } from '../../src/transports/socket/rooms.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

t.test('two instances behind one Redis', async (t) => {
  // With their cron schedules started, as deployed instances run (the job below never falls due).
  const REDIS_KEY_PREFIX = `spine-${randomUUID().slice(0, 8)}:`;
  const a = await startTestHub(t, { env: { REDIS_URL, REDIS_KEY_PREFIX }, startJobs: true });
  const b = await startTestHub(t, { env: { REDIS_URL, REDIS_KEY_PREFIX }, startJobs: true });
  // Another deployment on the same Redis, under its own prefix.
  const other = await startTestHub(t, { env: { REDIS_URL, REDIS_KEY_PREFIX: `elsewhere-${randomUUID().slice(0, 8)}:` }, startJobs: true });

  const ready = await request(a, 'GET', '/ready');
  t.equal(ready.status, 200);
  t.equal(ready.body.checks.redis.ok, true, '/ready checks Redis');
  t.equal(ready.body.checks['mqtt-cluster'].ok, true, '/ready checks the connections of the brokers’ cluster');

  const admin = await createOrganisation(a);
  const socket = connectSocket(t, a, { auth: { token: admin.token } });
  await nextEvent(socket, 'connect');
  await socket.timeout(5000).emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) });
  await roomsJoined(a, socket);
  const seen: unknown[] = [];
  socket.on('device:status', (payload: unknown) => seen.push(payload));
  const received = nextEvent(socket, 'device:status');
  other.context.sockets.emit(rooms.user(admin.userId), 'device:status', { from: 'another deployment' });
  b.context.sockets.emit(rooms.user(admin.userId), 'device:status', { from: 'instance b' });
  t.same(await received, { from: 'instance b' }, 'an event emitted on one instance reaches a socket on the other');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(seen, [{ from: 'instance b' }], 'nothing from a deployment under another prefix');
  t.ok(await a.context.redis?.exists('socket.io'), 'the Socket.IO stream is under the prefix');
  // Messages between instances (pub/sub, not keys) stay within the deployment too.
  let heardElsewhere = 0;
  other.context.sockets.onPeer('peer:test-prefix', () => (heardElsewhere += 1));
  const heardByB = new Promise<void>((resolve) => b.context.sockets.onPeer('peer:test-prefix', () => resolve()));
  a.context.sockets.toPeers('peer:test-prefix', { n: 1 });
  await heardByB;
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(heardElsewhere, 0, 'a peer message reaches the other instance, not another deployment');

  const job = `test-${randomUUID()}`;
  let runs = 0;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const body = async () => {
    runs += 1;
    await held;
  };
  a.context.jobs.add(job, '0 0 1 1 *', body);
  b.context.jobs.add(job, '0 0 1 1 *', body);
  other.context.jobs.add(job, '0 0 1 1 *', async () => undefined);
  const first = a.context.jobs.run(job);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(await b.context.jobs.run(job), false, 'the other instance does not run a job while one holds its lock');
  t.equal(await other.context.jobs.run(job), true, 'another deployment’s job of the same name is not held by it');
  release();
  t.equal(await first, true);
  t.equal(runs, 1);
  t.equal(await b.context.jobs.run(job), true, 'once released, any instance may run it');

  // A run longer than its lock: the lock is extended while it runs.
  const slow = `test-slow-${randomUUID()}`;
  const slowBody = () => new Promise<void>((resolve) => setTimeout(resolve, 1000));
  a.context.jobs.add(slow, '0 0 1 1 *', slowBody, { lockMs: 300 });
  b.context.jobs.add(slow, '0 0 1 1 *', slowBody, { lockMs: 300 });
  const long = a.context.jobs.run(slow);
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(await b.context.jobs.run(slow), false, 'past its 300 ms lock, a run still holds it');
  t.equal(await long, true);
});

t.test('connection-state recovery with the Redis streams adapter: every missed event, and the socket stays', async (t) => {
  const hub = await startTestHub(t, { env: { REDIS_URL } });
  const admin = await createOrganisation(hub);
  await recoversWithoutGap(t, hub, admin.token);
});
