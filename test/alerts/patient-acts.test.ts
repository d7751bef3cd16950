/**
 * Acknowledging and resolving alerts is the care team's act: a patient's own ack must not stop
 * their caregivers being told (the alert exists because the patient may not answer for themself).
 * A patient may only cancel their own call for help, and everyone it reached hears it is over.
 */
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import type { AnyBody } from '../helpers/clients.js';
import { connectDevice, eventually, provisionDevice } from '../helpers/devices.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, as, collect, deviceEvent, signedInSocket } from './helpers.js';

t.test('a patient may neither acknowledge nor resolve alerts about them, over REST or socket; their caregivers stay in charge', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const client = await connectDevice(t, hub, device);
  const patientSocket = await signedInSocket(t, hub, s.patientUser.token);
  const raised = collect<AnyBody>(patientSocket, 'alert:raised');

  await deviceEvent(hub, client, device.id, clock, { type: 'device.jam', slot: 1 });
  await eventually(async () => raised.length === 1);
  const jam = String(raised[0]?.id);
  t.equal(raised[0]?.type, 'device.jam', 'the patient sees the alert about them');

  const ack = await as(hub, s.patientUser, 'POST', `/alerts/${jam}/ack`, { note: 'fine' });
  t.equal(ack.status, 403, 'REST ack refused');
  t.match(ack.headers.get('content-type'), /^application\/problem\+json/);
  t.match(ack.body, { code: 'forbidden', detail: /care team/ });
  const resolve = await as(hub, s.patientUser, 'POST', `/alerts/${jam}/resolve`, { note: 'fixed it' });
  t.equal(resolve.status, 403, 'REST resolve refused');
  const socketAck = await patientSocket.timeout(5000).emitWithAck('alert:ack', { alertId: jam });
  t.match(socketAck, { ok: false, error: { code: 'forbidden' } }, 'socket ack refused');
  const socketResolve = await patientSocket.timeout(5000).emitWithAck('alert:resolve', { alertId: jam, note: 'fixed' });
  t.match(socketResolve, { ok: false, error: { code: 'forbidden' } }, 'socket resolve refused');

  const stored = await as(hub, s.caregiver, 'GET', `/alerts/${jam}`);
  t.match(stored.body, { status: 'active', acknowledged: null, resolved: null }, 'nothing the patient tried changed the alert');
  t.not(stored.body.nextEscalationAt, null, 'its escalation still runs');

  const byCaregiver = await as(hub, s.caregiver, 'POST', `/alerts/${jam}/ack`, { note: 'on my way' });
  t.equal(byCaregiver.status, 200);
  t.equal(byCaregiver.body.status, 'acknowledged', 'the care team acknowledges as before');
});

t.test('a patient may cancel their own call for help (resolve, not acknowledge); whoever it reached is told it is over', async (t) => {
  const clock = new ManualClock('2026-06-10T08:00:00Z');
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
  const client = await connectDevice(t, hub, device);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<AnyBody>(caregiver, 'alert:notify');
  const raised = collect<AnyBody>(caregiver, 'alert:raised');

  await deviceEvent(hub, client, device.id, clock, { type: 'help.requested' });
  await eventually(async () => raised.length === 1 && notes.length === 1);
  const help = String(raised[0]?.id);

  t.equal((await as(hub, s.patientUser, 'POST', `/alerts/${help}/ack`, {})).status, 403, 'acknowledging their own call is refused: it would silence it');
  const cancelled = await as(hub, s.patientUser, 'POST', `/alerts/${help}/resolve`, { note: 'pressed by mistake' });
  t.equal(cancelled.status, 200);
  t.match(cancelled.body, { status: 'resolved', resolved: { by: s.patientUser.userId, note: 'pressed by mistake', auto: false } });
  await eventually(async () => notes.length === 2);
  t.match(notes[1], { event: 'alert.resolved', alertId: help }, 'the caregiver it reached hears it is over');
});
