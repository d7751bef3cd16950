/** Password hashes are argon2id at the configured cost, verify whatever cost they were made at, and move to the configured cost at the next login. */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createAuthService } from '../../src/features/identity/auth-service.js';
import { createPasswords, DEFAULT_PASSWORD_HASHING } from '../../src/features/identity/passwords.js';
import type { LoginThrottle } from '../../src/features/identity/throttle.js';
import { createTokenSigner } from '../../src/features/identity/tokens.js';
import { request } from '../helpers/clients.js';
import { careScenario, PASSWORD } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

t.test('the configured argon2id cost is what a hash carries; OWASP’s first configuration by default', async (t) => {
  t.same(loadConfig({}).passwords, { memoryKib: 19456, timeCost: 2, parallelism: 1 });
  t.same(loadConfig({}).passwords, DEFAULT_PASSWORD_HASHING);
  const configured = loadConfig({ PASSWORD_HASH_MEMORY_KIB: '2048', PASSWORD_HASH_TIME_COST: '3', PASSWORD_HASH_PARALLELISM: '2' }).passwords;
  t.same(configured, { memoryKib: 2048, timeCost: 3, parallelism: 2 });
  t.throws(() => loadConfig({ PASSWORD_HASH_MEMORY_KIB: '512' }), /PASSWORD_HASH_MEMORY_KIB must be >= 1024/);

  const cheap = createPasswords({ memoryKib: 1024, timeCost: 1, parallelism: 1 });
  const strong = createPasswords(configured);
  const made = await strong.hash('correct horse battery staple');
  t.match(made, /^\$argon2id\$v=19\$m=2048,p=2,t=3\$/, 'the parameters are in the hash');
  t.ok(await cheap.verify(made, 'correct horse battery staple'), 'verified with the parameters it carries, whatever the verifier’s');
  t.notOk(await cheap.verify(made, 'wrong'), 'a wrong password fails');
  t.notOk(await cheap.verify('not a hash', 'x'), 'a damaged hash fails, without throwing');
  await cheap.burnVerification('anything');
  t.pass('the decoy verification for unknown accounts runs');
});

t.test('a hash made at another cost is made again at the configured one on the next successful login', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const { User } = hub.features.identity.models;
  const older = await createPasswords({ memoryKib: 2048, timeCost: 2, parallelism: 1 }).hash(PASSWORD);
  await User.updateOne({ email: s.caregiver.email }, { $set: { passwordHash: older } });
  const hashOf = async (): Promise<string> => String((await User.findOne({ email: s.caregiver.email }).lean())?.passwordHash);

  const wrong = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: s.caregiver.email, password: 'not the password' } });
  t.equal(wrong.status, 401);
  t.equal(await hashOf(), older, 'a failed login changes nothing');
  const right = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: s.caregiver.email, password: PASSWORD } });
  t.equal(right.status, 200, 'the old hash still verifies');
  const upgraded = await hashOf();
  t.match(upgraded, /^\$argon2id\$v=19\$m=1024,p=1,t=1\$/, 'made again at the configured cost (the test hub’s)');
  t.notOk(hub.features.identity.passwords.needsRehash(upgraded));
  t.equal((await request(hub, 'POST', '/api/v1/auth/login', { body: { email: s.caregiver.email, password: PASSWORD } })).status, 200, 'and verifies');
  t.equal(await hashOf(), upgraded, 'a hash at the configured cost is left alone');
});

t.test('failed logins are answered no sooner than the floor, for unknown emails and legacy hashes alike', async (t) => {
  t.equal(loadConfig({}).loginFailureMinMs, 1000, 'one second by default');
  const floorMs = 400;
  const hub = await startTestHub(t, { env: { LOGIN_FAILURE_MIN_MS: String(floorMs) } });
  const s = await careScenario(hub);
  // An account hashed at a costlier setting than the hub's (as before PASSWORD_HASH_* changed):
  // unpadded, its failures took as long as that cost and the decoy's did not.
  const legacy = await createPasswords({ memoryKib: 65536, timeCost: 3, parallelism: 4 }).hash(PASSWORD);
  await hub.features.identity.models.User.updateOne({ email: s.caregiver.email }, { $set: { passwordHash: legacy } });
  const timedLogin = async (email: string, password: string) => {
    const started = performance.now();
    const response = await request(hub, 'POST', '/api/v1/auth/login', { body: { email, password } });
    return { status: response.status, ms: performance.now() - started };
  };

  const unknown = await timedLogin('nobody@example.org', 'not the password');
  const wrong = await timedLogin(s.caregiver.email, 'not the password');
  t.equal(unknown.status, 401);
  t.equal(wrong.status, 401);
  t.ok(unknown.ms >= floorMs, `an unknown email waits for the floor (${Math.round(unknown.ms)} ms)`);
  t.ok(wrong.ms >= floorMs, `so does a wrong password on the legacy account (${Math.round(wrong.ms)} ms)`);
  const right = await timedLogin(s.caregiver.email, PASSWORD);
  t.equal(right.status, 200, 'a successful login is not held back');
});

t.test('the floor holds when recording a failed login fails (Redis refusing writes)', async (t) => {
  const hub = await startTestHub(t);
  const { models, passwords } = hub.features.identity;
  // The throttle's store answers reads but refuses writes, as a Redis at maxmemory or a read-only replica.
  const refusingWrites: LoginThrottle = {
    check: async () => undefined,
    recordFailure: async () => {
      throw new Error('READONLY You can’t write against a read only replica.');
    },
    recordSuccess: async () => undefined,
  };
  const floorMs = 300;
  const auth = createAuthService(models, createTokenSigner('x'.repeat(32)), passwords, refusingWrites, hub.context.clock, { failureMinMs: floorMs });
  const started = performance.now();
  await t.rejects(auth.login('nobody@example.org', 'not the password', '127.0.0.1'), /READONLY/);
  const elapsed = performance.now() - started;
  t.ok(elapsed >= floorMs, `the failure is answered after the floor all the same (${Math.round(elapsed)} ms)`);
});
