import { SignJWT } from 'jose';
import t from 'tap';
import { request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { PASSWORD, createOrganisation, createUser, login } from '../helpers/factories.js';
import { ManualClock } from '../../src/ports/clock.js';

t.test('login → me → refresh (rotating) → logout', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);

  const me = await request(hub, 'GET', '/api/v1/auth/me', { token: admin.token });
  t.equal(me.status, 200);
  t.match(me.body, { id: admin.userId, role: 'admin', email: admin.email });
  t.notOk('passwordHash' in me.body, 'no hash leaves the hub');

  const refreshed = await request<{ accessToken: string; refreshToken: string }>(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: admin.refreshToken } });
  t.equal(refreshed.status, 200);
  t.not(refreshed.body.refreshToken, admin.refreshToken, 'refresh token rotated');

  const reused = await request(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: admin.refreshToken } });
  t.equal(reused.status, 401, 'a replaced refresh token is refused');
  const afterTheft = await request(hub, 'POST', '/api/v1/auth/refresh', { body: { refreshToken: refreshed.body.refreshToken } });
  t.equal(afterTheft.status, 401, 'and reusing it revoked the whole session');
  const accessAfterTheft = await request(hub, 'GET', '/api/v1/auth/me', { token: refreshed.body.accessToken });
  t.equal(accessAfterTheft.status, 401, 'access tokens of a revoked session stop working at once');

  const second = await login(hub, admin.email);
  t.equal((await request(hub, 'POST', '/api/v1/auth/logout', { body: { refreshToken: second.refreshToken } })).status, 204);
  const afterLogout = await request(hub, 'GET', '/api/v1/auth/me', { token: second.token });
  t.equal(afterLogout.status, 401);
  t.match(afterLogout.headers.get('www-authenticate'), /Bearer realm="medhub", error="invalid_token"/);
});

t.test('the Authorization header: the scheme in any case; no token, or one that cannot be, said apart', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  const me = (authorization: string) => request(hub, 'GET', '/api/v1/auth/me', { headers: { authorization } });
  t.equal((await me(`bearer ${admin.token}`)).status, 200, 'bearer, in lower case (RFC 7235: schemes are case-insensitive)');
  t.equal((await me(`BEARER ${admin.token}`)).status, 200);
  const none = await me('');
  t.match(none, { status: 401, body: { detail: 'A bearer access token is required' } });
  t.equal(none.headers.get('www-authenticate'), 'Bearer realm="medhub"');
  const basic = await me('Basic dXNlcjpwYXNz');
  t.match(basic, { status: 401, body: { detail: 'A bearer access token is required' } }, 'another scheme asks for a bearer token');
  const garbled = await me('Bearer abc');
  t.match(garbled, { status: 401, body: { detail: 'The token is not valid' } }, 'a token that cannot be one is said to be invalid');
  t.match(garbled.headers.get('www-authenticate'), /error="invalid_token"/);
});

t.test('wrong credentials, unknown accounts and bad bodies', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);

  const wrong = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: admin.email, password: 'nope' } });
  t.equal(wrong.status, 401);
  t.equal(wrong.body.code, 'invalid_credentials');
  const unknown = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: 'ghost@example.org', password: 'nope' } });
  t.same(unknown.body.detail, wrong.body.detail, 'an unknown account looks exactly like a wrong password');

  const extra = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: admin.email, password: PASSWORD, role: 'admin' } });
  t.equal(extra.status, 400);
  t.match(extra.body, { code: 'validation_failed', errors: [{ path: '/role', message: 'is not allowed' }] });

  const broken = await request(hub, 'POST', '/api/v1/auth/login', { rawBody: '{"email":', headers: { 'content-type': 'application/json' } });
  t.equal(broken.status, 400);
  t.equal(broken.body.code, 'invalid_json');

  const text = await request(hub, 'POST', '/api/v1/auth/login', { rawBody: 'email=a', headers: { 'content-type': 'text/plain' } });
  t.equal(text.status, 415);
});

t.test('logins are throttled per account', async (t) => {
  const hub = await startTestHub(t);
  const admin = await createOrganisation(hub);
  for (let i = 0; i < 5; i++) await request(hub, 'POST', '/api/v1/auth/login', { body: { email: admin.email, password: `wrong-${i}` } });
  const blocked = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: admin.email, password: PASSWORD } });
  t.equal(blocked.status, 429, 'even the right password is refused while blocked');
  t.equal(blocked.body.code, 'rate_limited');
  t.ok(Number(blocked.headers.get('retry-after')) > 0, 'Retry-After says when to come back');
  const other = await createUser(hub, await login(hub, (await createOrganisation(hub)).email), 'caregiver');
  t.ok(other.token, 'other accounts are not affected');
});

t.test('forged, expired and malformed access tokens are refused', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const admin = await createOrganisation(hub);

  const [header, payload] = admin.token.split('.');
  const tampered = `${header}.${payload}.${'A'.repeat(43)}`;
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: tampered })).status, 401, 'bad signature');

  const forged = await new SignJWT({ org: admin.organisationId, role: 'admin', sid: '0'.repeat(24) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(admin.userId)
    .setIssuer('medhub')
    .setAudience('medhub-api')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('a-secret-that-is-not-the-hubs-secret-at-all'));
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: forged })).status, 401, 'signed with another key');

  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
  t.equal((await request(hub, 'GET', '/api/v1/auth/me', { token: none })).status, 401, 'alg none');

  clock.advance(16 * 60 * 1000);
  const expired = await request(hub, 'GET', '/api/v1/auth/me', { token: admin.token });
  t.equal(expired.status, 401);
  t.equal(expired.body.code, 'token_expired');

  t.equal((await request(hub, 'GET', '/api/v1/patients')).status, 401, 'no token at all');
});

t.test('the first admin comes from ADMIN_EMAIL/ADMIN_PASSWORD on an empty store', async (t) => {
  const hub = await startTestHub(t, { env: { ADMIN_EMAIL: 'root@example.org', ADMIN_PASSWORD: PASSWORD } });
  const admin = await login(hub, 'root@example.org');
  const me = await request(hub, 'GET', '/api/v1/auth/me', { token: admin.token });
  t.equal(me.body.role, 'admin');
});

t.test('bodies over the limit are refused with 413', async (t) => {
  const hub = await startTestHub(t, { env: { HTTP_BODY_LIMIT_BYTES: '2048' } });
  const big = await request(hub, 'POST', '/api/v1/auth/login', { body: { email: 'a@example.org', password: 'x'.repeat(5000) } });
  t.equal(big.status, 413);
  t.equal(big.body.code, 'payload_too_large');
});
