/**
 * refill.low clears itself: a plan PUT that leaves the stock no longer low resolves the open
 * alert, so the next low spell opens (and notifies) a new one instead of answering with the old.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { as, onlineDevice, sendEvent, startDoseHub } from './helpers.js';

t.test('a refill by plan PUT resolves refill.low; the next low spell raises and notifies a new alert', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z');
  const hub = await startDoseHub(t, clock);
  const s = await careScenario(hub);
  const { device, client } = await onlineDevice(t, hub, s.clinician, s.patient.id);
  const { Alert, Notification } = hub.features.alerts.models;
  const plan = (stock: number, name = 'Warfarin') => ({ medications: [{ id: 'warfarin', name, slot: 1, pillsPerDose: 1, stock }], schedule: [{ id: 'morning', medicationId: 'warfarin', times: ['08:00'], startDate: '2026-06-10' }] });
  const put = (stock: number, name?: string) => as(hub, s.clinician, 'PUT', `/patients/${s.patient.id}/medication-plans`, plan(stock, name));
  const dispense = () => sendEvent(client, device.id, { eventId: randomUUID(), type: 'dose.dispensed', at: clock.now().toISOString(), slot: 1, pills: 1, trigger: 'schedule', dueAt: '2026-06-10T06:00:00.000Z' });
  t.equal((await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan(3))).status, 201);

  await dispense();
  const first = await Alert.findOne({ type: 'refill.low' }).lean();
  t.match(first, { cause: `refill.low:${s.patient.id}:warfarin`, status: 'active', details: { pillsLeft: 2 } }, '2 pills at 1 a day: low');
  t.equal((await as(hub, s.caregiver, 'POST', `/alerts/${String(first?._id)}/ack`, { note: 'ordering more' })).status, 200);

  t.equal((await put(2, 'Warfarin 5 mg')).status, 200);
  t.match(await Alert.findById(first?._id).lean(), { status: 'acknowledged' }, 'a PUT that leaves the stock low leaves the alert open');

  clock.set('2026-06-11T05:00:00Z');
  t.equal((await put(30)).status, 200);
  t.match(await Alert.findById(first?._id).lean(), { status: 'resolved', resolved: { auto: true, by: null, note: 'refilled' } }, 'topped up: the cause cleared, the alert resolved');

  // Weeks later the stock runs low again.
  clock.set('2026-07-08T05:00:00Z');
  t.equal((await put(3)).status, 200);
  const notifiedBefore = await Notification.countDocuments({});
  await dispense();
  const open = await Alert.find({ type: 'refill.low', status: { $ne: 'resolved' } }).lean();
  t.equal(open.length, 1, 'one open refill.low');
  t.not(String(open[0]?._id), String(first?._id), 'a new alert, not the old one');
  t.has(open[0], { status: 'active', raisedAt: new Date('2026-07-08T05:00:00Z') });
  t.ok((await Notification.countDocuments({ alertId: open[0]?._id })) > 0 && (await Notification.countDocuments({})) > notifiedBefore, 'and its recipients are told');
});
