/**
 * The login throttle holds against parallel requests: an attempt takes its point for the account
 * and for the address before the password is verified, so a burst fired at once gets no more
 * verifications than the limits allow (5 per account, 30 per address), with the in-memory limiter
 * and with Redis alike. A successful login gives its points back.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { DEFAULT_PASSWORD_HASHING } from '../../src/features/identity/passwords.js';
import { ACCOUNT_FAILURES, IP_FAILURES } from '../../src/features/identity/throttle.js';
import { request } from '../helpers/clients.js';
import { PASSWORD, createOrganisation, createUser } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const STORES: Array<[string, Record<string, string>]> = [
  ['in memory', {}],
  ['in Redis', { REDIS_URL }],
];
const BURST = 40;
// One proxy's X-Forwarded-For is trusted, so that each test signs in from an address of its own.
// Hashes at the production cost (the test hub's default is the cheapest argon2id): its ~75 ms
// check is the window a burst slipped through.
const HUB_ENV = { TRUST_PROXY_HOPS: '1', PASSWORD_HASH_MEMORY_KIB: String(DEFAULT_PASSWORD_HASHING.memoryKib), PASSWORD_HASH_TIME_COST: String(DEFAULT_PASSWORD_HASHING.timeCost) };

let addresses = 0;
const newAddress = (): string => `10.77.${Math.floor(addresses / 250)}.${(addresses++ % 250) + 1}`;

async function attempt(hub: Hub, email: string, password: string, address: string): Promise<number> {
  return (await request(hub, 'POST', '/api/v1/auth/login', { body: { email, password }, headers: { 'X-Forwarded-For': address } })).status;
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

for (const [store, env] of STORES) {
  t.test(`a parallel burst against one account gets at most ${ACCOUNT_FAILURES.points} password checks (${store})`, async (t) => {
    const hub = await startTestHub(t, { env: { ...HUB_ENV, ...env } });
    const admin = await createOrganisation(hub);
    const victim = await createUser(hub, admin, 'caregiver');
    const address = newAddress();

    // A success gives the account its points back: four typos and a success leave the whole budget.
    for (let i = 0; i < ACCOUNT_FAILURES.points - 1; i++) t.equal(await attempt(hub, victim.email, `typo-${i}`, address), 401);
    t.equal(await attempt(hub, victim.email, PASSWORD, address), 200, 'the right password after a few typos');

    const statuses = await Promise.all(Array.from({ length: BURST }, (_, i) => attempt(hub, victim.email, `guess-${i}`, address)));
    const counts = tally(statuses);
    t.equal(counts[401] ?? 0, ACCOUNT_FAILURES.points, `only ${ACCOUNT_FAILURES.points} guesses were checked: ${JSON.stringify(counts)}`);
    t.equal(counts[429] ?? 0, BURST - ACCOUNT_FAILURES.points, 'every other one was refused before its check');

    const right = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: victim.email, password: PASSWORD }, headers: { 'X-Forwarded-For': newAddress() } });
    t.equal(right.status, 429, 'once the limit is passed, even the right password is refused, from any address');
    t.equal(right.body.code, 'rate_limited');
    t.ok(Number(right.headers.get('retry-after')) > 0, 'with Retry-After');
  });

  t.test(`a parallel burst from one address gets at most ${IP_FAILURES.points} password checks (${store})`, async (t) => {
    const hub = await startTestHub(t, { env: { ...HUB_ENV, ...env } });
    const admin = await createOrganisation(hub);
    const user = await createUser(hub, admin, 'clinician');
    const address = newAddress();

    // Successes do not count against the address: more of them than its failure limit all get in.
    for (let i = 0; i < IP_FAILURES.points + 2; i++) t.equal(await attempt(hub, user.email, PASSWORD, address), 200, `success ${i + 1}`);

    // Password spraying: one guess each at many accounts (unknown ones answer like known ones).
    const statuses = await Promise.all(Array.from({ length: BURST }, () => attempt(hub, `nobody-${randomUUID().slice(0, 8)}@example.org`, 'Spring2024!', address)));
    const counts = tally(statuses);
    t.equal(counts[401] ?? 0, IP_FAILURES.points, `only ${IP_FAILURES.points} guesses were checked: ${JSON.stringify(counts)}`);
    t.equal(counts[429] ?? 0, BURST - IP_FAILURES.points, 'every other one was refused before its check');

    t.equal(await attempt(hub, user.email, PASSWORD, address), 429, 'the blocked address is refused even with a right password');
    t.equal(await attempt(hub, user.email, PASSWORD, newAddress()), 200, 'another address is not');
  });
}
