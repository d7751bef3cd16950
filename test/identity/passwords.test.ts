/** Password hashes are argon2id at the configured cost, and verify whatever cost they were made at. */
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { createPasswords, DEFAULT_PASSWORD_HASHING } from '../../src/features/identity/passwords.js';

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
