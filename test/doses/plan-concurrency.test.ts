/**
 * Optimistic concurrency on PUT: a plan read before dispenses took stock (or before another PUT)
 * is refused with 409 when its revision (body `revision` or If-Match) is sent back, instead of
 * writing the old stock over the new one and resolving refill.low as "refilled". Stock written
 * low by a POST or PUT raises refill.low as a dispense would.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { request } from '../helpers/clients.js';
import { careScenario, currentToken } from '../helpers/factories.js';
import { as, onlineDevice, sendEvent, startDoseHub } from './helpers.js';

const plan = (stock: number, name = 'Warfarin') => ({ medications: [{ id: 'warfarin', name, slot: 1, pillsPerDose: 1, stock }], schedule: [{ id: 'morning', medicationId: 'warfarin', times: ['08:00'], startDate: '2026-06-10' }] });

t.test('a PUT from a read older than the last dispense is refused (409), by body revision or If-Match', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const { Alert } = hub.features.alerts.models;
  const path = `/patients/${s.patient.id}/medication-plans`;
  const created = await as(hub, s.clinician, 'POST', path, plan(10));
  t.equal(created.status, 201);
  t.equal(created.headers.get('etag'), `"${created.body.revision}"`, 'POST answers the plan’s ETag');

  const read = await as(hub, s.clinician, 'GET', path);
  t.equal(read.status, 200);
  t.ok(hub.context.schemas.check('http/plan-view', read.body).ok, 'the answer follows schemas/http/plan-view.json');
  const readRevision = read.body.revision as number;
  t.equal(read.headers.get('etag'), `"${readRevision}"`, 'GET answers the ETag: the revision, quoted');

  // Eight extra doses dispensed on command: 10 → 2 pills, 2 days at 1 a day: refill.low.
  for (let i = 0; i < 8; i += 1) await sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'command', commandId: randomUUID() });
  const now = await as(hub, s.clinician, 'GET', path);
  t.match(now.body, { version: 1, medications: [{ stock: 2 }] });
  t.ok((now.body.revision as number) > readRevision, 'the dispenses moved the revision, not the version');
  const refill = await Alert.findOne({ type: 'refill.low' }).lean();
  t.match(refill, { status: 'active', details: { pillsLeft: 2 } });

  // The clinician renames the medication in the plan they read (stock 10 in it).
  const stale = await as(hub, s.clinician, 'PUT', path, { ...plan(10, 'Warfarin 5 mg'), revision: readRevision });
  t.equal(stale.status, 409, 'refused: the plan changed since it was read');
  t.match(stale.headers.get('content-type'), /application\/problem\+json/);
  t.match(stale.body, { code: 'conflict', errors: [{ path: '/revision', message: `is ${String(now.body.revision)} now` }] });
  t.equal(stale.headers.get('etag'), `"${String(now.body.revision)}"`, 'with the current ETag');

  const token = await currentToken(hub, s.clinician);
  const put = (headers: Record<string, string>, body: unknown) => request(hub, 'PUT', `/api/v1${path}`, { token, headers, body });
  const byHeader = await put({ 'If-Match': `"${readRevision}"` }, plan(10, 'Warfarin 5 mg'));
  t.equal(byHeader.status, 409, 'If-Match with the old ETag: refused too');
  t.equal((await put({ 'If-Match': `W/"${String(now.body.revision)}"` }, plan(2, 'Warfarin 5 mg'))).status, 409, 'a weak tag never matches (strong comparison)');
  const malformed = await put({ 'If-Match': '3' }, plan(10));
  t.equal(malformed.status, 400, 'an If-Match that is no entity tag is a 400');
  t.match(malformed.body, { code: 'validation_failed', errors: [{ path: '/headers/if-match' }] });

  t.match((await as(hub, s.clinician, 'GET', path)).body, { version: 1, revision: now.body.revision, medications: [{ name: 'Warfarin', stock: 2 }] }, 'nothing was written');
  t.match(await Alert.findById(refill?._id).lean(), { status: 'active' }, 'refill.low is still open: nothing was refilled');

  // From the current read, the PUT goes through (body revision and If-Match agreeing).
  const fresh = await put({ 'If-Match': `"${String(now.body.revision)}"` }, { ...plan(2, 'Warfarin 5 mg'), revision: now.body.revision });
  t.equal(fresh.status, 200, JSON.stringify(fresh.body));
  t.match(fresh.body, { version: 2, revision: (now.body.revision as number) + 1, medications: [{ name: 'Warfarin 5 mg', stock: 2 }] });
  t.equal(fresh.headers.get('etag'), `"${(now.body.revision as number) + 1}"`);
  t.equal((await put({ 'If-Match': '*' }, plan(2, 'Warfarin'))).status, 200, 'If-Match: * matches any revision');
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(2))).status, 200, 'a PUT without a precondition is still accepted');
  t.match(await Alert.findById(refill?._id).lean(), { status: 'active' }, 'the PUTs that kept the stock low left refill.low open');
});

t.test('stock written low by POST or PUT raises refill.low, once per low spell', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { Alert } = hub.features.alerts.models;
  const refills = (patientId: string) => Alert.find({ patientId, type: 'refill.low' }).lean();

  // POST with 2 pills at 1 a day: low from the start.
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.otherPatient.id}/medication-plans`, plan(2))).status, 201);
  t.match(await refills(s.otherPatient.id), [{ status: 'active', cause: `refill.low:${s.otherPatient.id}:warfarin`, details: { pillsLeft: 2, daysLeft: 2 } }], 'POST with low stock: refill.low');

  const path = `/patients/${s.patient.id}/medication-plans`;
  t.equal((await as(hub, s.clinician, 'POST', path, plan(30))).status, 201);
  t.same(await refills(s.patient.id), [], '30 days of stock: nothing');
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(1))).status, 200);
  const raised = await refills(s.patient.id);
  t.match(raised, [{ status: 'active', details: { medicationId: 'warfarin', pillsLeft: 1, daysLeft: 1 } }], 'a PUT setting the stock below the threshold raises refill.low');
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(2, 'Warfarin 5 mg'))).status, 200);
  t.equal((await refills(s.patient.id)).length, 1, 'a PUT that keeps it low raises no second one');
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(30))).status, 200);
  t.match(await refills(s.patient.id), [{ status: 'resolved', resolved: { note: 'refilled' } }], 'topped up: resolved');
  t.equal((await as(hub, s.clinician, 'PUT', path, plan(1))).status, 200);
  t.equal((await refills(s.patient.id)).filter((a) => a.status === 'active').length, 1, 'low again: a new alert for the new spell');
});
