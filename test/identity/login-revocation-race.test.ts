/**
 * A login that read the user before an admin changed them (new password, disabled, new role) must
 * not leave a live session behind: the change ends every session of the user, and one created
 * after that revoke is caught by the login itself, which reads the user again once its session
 * exists. Driven through real requests: logins with the old credentials keep starting while the
 * admin's PATCH runs, then every session they opened must be dead.
 */
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import type { Hub } from '../../src/hub.js';
import { DEFAULT_PASSWORD_HASHING } from '../../src/features/identity/passwords.js';
import { request } from '../helpers/clients.js';
import { PASSWORD, createOrganisation, createUser, type Login } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

// Hashes at the production cost (~75 ms to verify, the test hub's default is the cheapest
// argon2id): the time between a login reading the user and creating its session. Each trial
// signs in from an address of its own (one proxy's X-Forwarded-For is trusted), so that the
// failures after the change never reach the per-address limit.
const HUB_ENV = { TRUST_PROXY_HOPS: '1', PASSWORD_HASH_MEMORY_KIB: String(DEFAULT_PASSWORD_HASHING.memoryKib), PASSWORD_HASH_TIME_COST: String(DEFAULT_PASSWORD_HASHING.timeCost) };
const TRIALS = 4;
/** A new login with the old password starts this often (ms) until the admin's change is answered. */
const EVERY_MS = 8;

interface Opened {
  status: number;
  accessToken?: string;
  refreshToken?: string;
  role?: string;
}

/** Logs in with the old password again and again while `change` runs; answers every login's outcome. */
async function loginsDuring(hub: Hub, user: Login, address: string, change: () => Promise<number>): Promise<{ changed: number; logins: Opened[] }> {
  const started: Array<Promise<Opened>> = [];
  let done = false;
  const changing = (async () => {
    await delay(3 * EVERY_MS);
    try {
      return await change();
    } finally {
      done = true;
    }
  })();
  while (!done) {
    started.push(
      request(hub, 'POST', '/api/v1/auth/login', { body: { email: user.email, password: PASSWORD }, headers: { 'X-Forwarded-For': address } }).then((r) => ({
        status: r.status,
        accessToken: r.body.accessToken as string | undefined,
        refreshToken: r.body.refreshToken as string | undefined,
        role: (r.body.user as { role?: string } | undefined)?.role,
      })),
    );
    await delay(EVERY_MS);
  }
  return { changed: await changing, logins: await Promise.all(started) };
}

/**
 * What the admin changes on a clinician, and which sessions must not outlive it: any opened with
 * the old password, or for a disabled user; after a role change, any whose tokens carry the old
 * role (a login after the change signs in with the new one, and that session may live).
 */
const CHANGES: Array<[string, Record<string, unknown>, (opened: Opened) => boolean]> = [
  ['a new password', { password: 'a brand new passphrase' }, () => true],
  ['disabled', { disabled: true }, () => true],
  ['a new role', { role: 'caregiver' }, (opened) => opened.role !== 'caregiver'],
];

for (const [what, body, mustEnd] of CHANGES) {
  t.test(`no session opened by a login racing the user's change (${what}) outlives it`, async (t) => {
    const hub = await startTestHub(t, { env: HUB_ENV });
    const admin = await createOrganisation(hub);
    let opened = 0;
    let survivors = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const user = await createUser(hub, admin, 'clinician');
      const address = `10.88.${trial}.${CHANGES.findIndex(([w]) => w === what) + 1}`;
      const { changed, logins } = await loginsDuring(hub, user, address, async () => (await request(hub, 'PATCH', `/api/v1/users/${user.userId}`, { token: admin.token, body })).status);
      t.equal(changed, 200, `trial ${trial}: the admin's change is stored`);
      for (const login of logins) {
        t.ok([200, 401, 429].includes(login.status), `a login answers 200, 401 or 429 (${login.status})`);
        if (login.status !== 200 || !login.refreshToken || !login.accessToken) continue;
        if (!mustEnd(login)) continue;
        opened++;
        const refreshed = await request(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: login.refreshToken } });
        const me = await request(hub, 'GET', '/api/v1/auth/me', { token: login.accessToken });
        if (refreshed.status !== 401 || me.status !== 401) survivors++;
      }
      t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: user.token })).status, 401, `trial ${trial}: the session from before the change has ended`);
    }
    t.equal(survivors, 0, `none of the ${opened} sessions opened with what the change took away is live after it (${survivors} were)`);
  });
}
