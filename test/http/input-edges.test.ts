/**
 * Input at the edges of what the schemas let through: a huge adherence range, dates that are not
 * on the calendar, date-times a JavaScript Date cannot hold, cursors for another kind of id. Each
 * is answered with a 400 problem naming the field — never a 500, never a hub frozen on it.
 */
import t, { type Test } from 'tap';
import type { Hub } from '../../src/hub.js';
import { ManualClock } from '../../src/ports/clock.js';
import { request, type JsonResponse } from '../helpers/clients.js';
import { connectDevice, doseTaken, inbox, provisionDevice, topic } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

const LEAP_SECOND = '2016-12-31T23:59:60Z';

// One hub for the file; the clock stands still (06:00 in Paris on 10 June 2026), so tokens stay valid.
let hub: Hub;
let s: Awaited<ReturnType<typeof careScenario>>;
t.before(async () => {
  hub = await startTestHub(t, { clock: new ManualClock('2026-06-10T04:00:00Z') });
  s = await careScenario(hub);
});

const get = (path: string, token = s.clinician.token) => request(hub, 'GET', `/api/v1${path}`, { token });

/** A 400 validation problem whose error names `path` (and `message`, when given). */
function refused(t: Test, response: JsonResponse, path: string, message?: string | RegExp): void {
  t.equal(response.status, 400, 'answered 400');
  t.equal(response.headers.get('content-type'), 'application/problem+json');
  t.match(response.body, { code: 'validation_failed', errors: [{ path, ...(message === undefined ? {} : { message }) }] });
}

t.test('adherence: a range longer than 366 days is refused before any day is counted', async (t) => {
  const started = performance.now();
  const huge = await get(`/patients/${s.patient.id}/adherence?from=0001-01-01&to=9999-12-31`);
  const elapsed = performance.now() - started;
  refused(t, huge, '/from', 'the range is longer than 366 days');
  // Walking the ~3.65 million days took ~27 s of CPU with the event loop blocked.
  t.ok(elapsed < 2000, `answered in ${Math.round(elapsed)} ms, without walking the days`);

  refused(t, await get(`/patients/${s.patient.id}/adherence?from=2023-12-31&to=2024-12-31`), '/from', 'the range is longer than 366 days');
  const leapYear = await get(`/patients/${s.patient.id}/adherence?from=2024-01-01&to=2024-12-31`);
  t.equal(leapYear.status, 200);
  t.equal(leapYear.body.days.length, 366, 'exactly 366 days is allowed');
  t.match(leapYear.body, { from: '2024-01-01', to: '2024-12-31' });
});

t.test('adherence: a date that is not on the calendar is refused', async (t) => {
  refused(t, await get(`/patients/${s.patient.id}/adherence?from=2025-02-01&to=2025-02-31`), '/to');
  refused(t, await get(`/patients/${s.patient.id}/adherence?from=2023-02-29&to=2023-03-01`), '/from');
  refused(t, await get(`/patients/${s.patient.id}/adherence?from=2025-04-31`), '/from');
  const leapDay = await get(`/patients/${s.patient.id}/adherence?from=2024-02-29&to=2024-02-29`);
  t.equal(leapDay.status, 200);
  t.match(leapDay.body, { from: '2024-02-29', to: '2024-02-29', days: [{ date: '2024-02-29' }] });
});

t.test('a date-time a JavaScript Date cannot hold (leap second, hour-only offset) is refused on every transport', async (t) => {
  const plan = {
    medications: [{ id: 'metformin', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 60 }],
    schedule: [{ id: 'metformin-am', medicationId: 'metformin', times: ['08:00'], startDate: '2026-06-10' }],
  };
  const created = await request(hub, 'POST', `/api/v1/patients/${s.patient.id}/medication-plans`, { token: s.clinician.token, body: plan });
  t.equal(created.status, 201, 'the plan is created');
  const doses = await get(`/patients/${s.patient.id}/doses?from=2026-06-10T00:00:00Z&to=2026-06-11T00:00:00Z`);
  t.equal(doses.status, 200, 'valid date-times are still accepted');
  const dose = doses.body.items[0] as { id: string; dueAt: string };
  t.equal(dose.dueAt, '2026-06-10T06:00:00.000Z');

  refused(t, await get(`/patients/${s.patient.id}/doses?from=${LEAP_SECOND}`), '/from', 'must match format "date-time"');
  refused(t, await get(`/patients/${s.patient.id}/doses?to=${encodeURIComponent('2026-06-11T00:00:00+01')}`), '/to', 'must match format "date-time"');
  const confirm = await request(hub, 'POST', `/api/v1/patients/${s.patient.id}/doses/${dose.id}/confirm`, { token: s.caregiver.token, body: { takenAt: LEAP_SECOND } });
  refused(t, confirm, '/takenAt', 'must match format "date-time"');
  t.match((await get(`/patients/${s.patient.id}/doses?from=2026-06-10T00:00:00Z&to=2026-06-11T00:00:00Z`)).body.items, [{ id: dose.id, takenAt: null }], 'the dose is untouched');

  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  refused(t, await get(`/devices/${device.id}/heartbeats?from=${LEAP_SECOND}`), '/from', 'must match format "date-time"');

  const client = await connectDevice(t, hub, device);
  const errors = await inbox(client, topic(device.id, 'errors'));
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(doseTaken({ eventId: 'evt-leap-0001', at: LEAP_SECOND })), { qos: 1 });
  t.match((await errors()).payload, { code: 'schema_violation', ref: { eventId: 'evt-leap-0001' }, details: [{ path: '/at' }] }, 'a device event gets the errors reply');
  const events = await get(`/devices/${device.id}/events`);
  t.same(events.body.items, [], 'nothing stored');
});

t.test('a cursor for another kind of id is refused on every paged list', async (t) => {
  const stringCursor = Buffer.from('s:abc').toString('base64url');
  t.equal(stringCursor, 'czphYmM');
  const objectIdCursor = Buffer.from(`o:${'a'.repeat(24)}`).toString('base64url');
  const conversation = await request(hub, 'POST', '/api/v1/conversations', { token: s.caregiver.token, body: { patientId: s.patient.id } });
  t.equal(conversation.status, 201);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  await provisionDevice(hub, s.clinician, { patientId: s.patient.id });

  const byObjectId = ['/alerts', '/users', '/patients', '/audit', '/conversations', `/conversations/${conversation.body.id as string}/messages`, `/devices/${device.id}/events`];
  for (const path of byObjectId) {
    t.comment(path);
    refused(t, await get(`${path}?cursor=${stringCursor}`, s.admin.token), '/cursor', 'is not a cursor from this API');
  }
  for (const path of ['/devices', `/devices/${device.id}/commands`]) {
    t.comment(path);
    refused(t, await get(`${path}?cursor=${objectIdCursor}`, s.admin.token), '/cursor', 'is not a cursor from this API');
  }

  // Cursors the API hands out still page, for both kinds of id.
  for (const path of ['/patients', '/devices']) {
    const first = await get(`${path}?limit=1`, s.admin.token);
    t.type(first.body.nextCursor, 'string', `${path} has a next page`);
    const next = await get(`${path}?limit=1&cursor=${first.body.nextCursor as string}`, s.admin.token);
    t.equal(next.status, 200);
    t.not(next.body.items[0].id, first.body.items[0].id, `${path}: the cursor gives the next page`);
  }
});
