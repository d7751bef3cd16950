/**
 * Stored device events are acted on even when their device never sends them again: the
 * recovery sweep (`devices.recover-events`) claims events left unprocessed — their effects
 * failed, or the instance that stored them died before acting — once nobody's claim holds them,
 * and acts on each once.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { createEventClaims, MAX_RECLAIMS } from '../../src/features/devices/event-claims.js';
import { createEventEffects } from '../../src/features/devices/event-effects.js';
import { createDeviceRealtime } from '../../src/features/devices/realtime.js';
import type { Hub } from '../../src/hub.js';
import { nextEventWhere } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { connectDevice, eventually, provisionDevice, topic } from '../helpers/devices.js';
import { alertScenario, collect, settle, signedInSocket } from '../alerts/helpers.js';

type Payload = Record<string, unknown>;
const RECOVER = 'devices.recover-events';

t.test('an event whose effects failed, from a device that never resends it, is acted on by the recovery sweep', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const { DeviceEvent } = hub.features.devices.models;
  // The store refuses the alert: a unique index that the alerts collection's one document already fills.
  const alerts = hub.features.alerts.models.Alert.collection;
  await alerts.insertOne({ refusesHelp: true, type: 'help.requested' });
  await alerts.createIndex({ type: 1 }, { unique: true, partialFilterExpression: { type: 'help.requested' }, name: 'refuses_help' });

  const client = await connectDevice(t, hub, device, { reconnectPeriod: 0 });
  const dropped = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const event = { eventId: randomUUID(), type: 'help.requested', at: new Date().toISOString() };
  void client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 }).catch(() => undefined);
  await dropped;
  client.end(true); // the dispenser is unplugged: its outbox is gone, it will not resend
  t.equal(await DeviceEvent.countDocuments({ eventId: event.eventId, processed: false }), 1, 'stored, not acted on');

  t.ok(await hub.context.jobs.run(RECOVER), 'the sweep runs');
  t.equal(await DeviceEvent.countDocuments({ eventId: event.eventId, processed: false, reclaims: 1 }), 1, 'while the alert is still refused: tried, and left for the next sweep');

  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 0, 'its claim holds until it lapses: one attempt per sweep');

  await alerts.dropIndex('refuses_help');
  await alerts.deleteOne({ refusesHelp: true });
  const raised = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'help.requested');
  clock.advance(30_000);
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 1, 'the next sweep acts on it');
  t.match(await raised, { type: 'help.requested', deviceId: device.id, patientId: s.patient.id }, 'the caregiver is told');
  await eventually(async () => (await DeviceEvent.findOne({ eventId: event.eventId }).lean())?.processed === true);
  t.pass('and it is marked processed');
  clock.advance(60_000);
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 0, 'so no later sweep acts on it again');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ cause: `help.requested:${device.id}` }), 1, 'one alert');
});

t.test('an event stored by an instance that died before acting on it: the resend is acknowledged, the sweep acts once the claim lapses', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const raisedAlerts = collect(caregiver, 'alert:raised');
  const { Device, DeviceEvent } = hub.features.devices.models;
  const stored = await Device.findById(device.id).lean();

  // What another instance wrote just before it was killed: the event, unprocessed, under its claim.
  const event = { eventId: randomUUID(), type: 'help.requested', at: clock.now().toISOString() };
  await DeviceEvent.collection.insertOne({
    deviceId: device.id, eventId: event.eventId, type: event.type, at: clock.now(), receivedAt: clock.now(), via: 'mqtt', payload: event,
    organisationId: stored?.organisationId, patientId: stored?.patientId, processed: false, claimedUntil: new Date(clock.now().getTime() + 30_000),
  });

  // The dispenser, never acknowledged, resends it to this instance.
  const client = await connectDevice(t, hub, device);
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  t.pass('the resend is acknowledged: the event is stored, and the claim holder or the sweep acts on it');
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 0, 'not while the claim holds');
  await settle();
  t.same(raisedAlerts, [], 'no alert yet: the dead instance still holds the effects');

  clock.advance(30_001);
  const raised = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'help.requested');
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 1, 'once it lapses, the sweep acts');
  t.match(await raised, { type: 'help.requested', deviceId: device.id });
  t.equal(await DeviceEvent.countDocuments({ eventId: event.eventId }), 1, 'stored once');
  await eventually(async () => (await DeviceEvent.findOne({ eventId: event.eventId }).lean())?.processed === true);

  // Resent again (its ack was lost): acknowledged, nothing acted on twice.
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  clock.advance(60_000);
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 0);
  await settle();
  t.equal(raisedAlerts.length, 1, 'one alert:raised in all');
});

t.test('the sweep reads only the unprocessed events, through their partial index', async (t) => {
  const hub = await startTestHub(t);
  const { DeviceEvent } = hub.features.devices.models;
  const now = new Date();
  const filter = { processed: false, reclaims: { $not: { $gte: 20 } }, $or: [{ claimedUntil: { $lte: now } }, { claimedUntil: null, receivedAt: { $lte: new Date(now.getTime() - 30_000) } }] };
  const plan = JSON.stringify((await DeviceEvent.collection.find(filter).explain('queryPlanner')).queryPlanner);
  t.match(plan, /IXSCAN/, 'an index scan');
  t.match(plan, /processed_1/, 'of the {processed} index');
});

/** What another instance left behind when it was killed: events stored unprocessed, under claims that lapse at `claimedUntil`. */
async function strandedEvents(hub: Hub, deviceId: string, events: Array<{ type: string; receivedAt: Date }>, claimedUntil: Date): Promise<string[]> {
  const device = await hub.features.devices.models.Device.findById(deviceId).lean();
  const docs = events.map(({ type, receivedAt }) => {
    const eventId = randomUUID();
    return {
      deviceId, eventId, type, at: receivedAt, receivedAt, via: 'mqtt', payload: { eventId, type, at: receivedAt.toISOString() },
      organisationId: device?.organisationId, patientId: device?.patientId, processed: false, claimedUntil,
    };
  });
  await hub.features.devices.models.DeviceEvent.collection.insertMany(docs);
  return docs.map((doc) => doc.eventId);
}

t.test('one sweep acts on every stranded event, calls for help first; events older than a day are given up, not paged', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const { DeviceEvent } = hub.features.devices.models;
  const devices = await Promise.all(Array.from({ length: 5 }, () => provisionDevice(hub, s.clinician, { patientId: s.patient.id })));
  const lapsed = new Date(clock.now().getTime() - 1000);
  const now = clock.now().getTime();
  // 250 events from five dispensers (more than one batch of the sweep), a call for help stored last.
  for (const device of devices.slice(0, 4)) await strandedEvents(hub, device.id, Array.from({ length: 60 }, (_, i) => ({ type: 'device.tamper', receivedAt: new Date(now - 60_000 + i) })), lapsed);
  const [help] = await strandedEvents(hub, devices[4]!.id, [{ type: 'help.requested', receivedAt: new Date(now - 30_000) }], lapsed);
  const [old] = await strandedEvents(hub, devices[4]!.id, [{ type: 'help.requested', receivedAt: new Date(now - 25 * 3_600_000) }], lapsed);

  const order: string[] = [];
  hub.features.devices.ingest.onEvent((_device, event) => void order.push(event.eventId));
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 241, 'every recent stranded event, in one sweep');
  t.equal(order[0], help, 'the call for help first, though stored after the others');
  t.notOk(order.includes(old!), 'not the day-old one');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ type: 'help.requested' }), 1, 'one help alert: the recent press');
  t.match(await DeviceEvent.findOne({ eventId: old }).lean(), { processed: false, reclaims: MAX_RECLAIMS }, 'the day-old one is given up (kept, unprocessed, for the record)');
  await eventually(async () => (await DeviceEvent.countDocuments({ processed: false })) === 1);
  clock.advance(60_000);
  t.equal(await hub.features.devices.ingest.recoverUnprocessed(), 0, 'nothing left');
});

t.test('effects that run long keep their claim: another instance\'s sweep does not run them again', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const { DeviceEvent } = hub.features.devices.models;
  // This instance's effects, with a keep-alive every 50 ms; the other instance's sweep is the hub's own.
  const claims = createEventClaims(DeviceEvent, clock);
  const effects = createEventEffects({ claims, realtime: createDeviceRealtime(hub.context.sockets), markProcessed: (id) => DeviceEvent.updateOne({ _id: id }, { $set: { processed: true } }), log: hub.context.logger, keepAliveMs: 50 });
  t.teardown(() => effects.close());
  let finish = (): void => undefined;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  effects.onEvent(() => gate);

  const [eventId] = await strandedEvents(hub, device.id, [{ type: 'device.tamper', receivedAt: clock.now() }], new Date(clock.now().getTime() + 30_000));
  const stored = await DeviceEvent.findOne({ eventId }).lean();
  const running = effects.run(stored!);
  clock.advance(25_000);
  await eventually(async () => (await DeviceEvent.findOne({ eventId }).lean())?.claimedUntil?.getTime() === clock.now().getTime() + 30_000);
  t.pass('the claim is extended while the effects run');

  // Past the claim it was stored with: on the hub's clock, it has been 40 s.
  clock.advance(15_000);
  const otherInstance = createEventClaims(DeviceEvent, clock);
  t.equal(await otherInstance.claimById(stored!._id), null, 'nobody else can claim it');
  finish();
  await running;
  await eventually(async () => (await DeviceEvent.findOne({ eventId }).lean())?.processed === true);
  t.pass('and it is marked processed once they end');
});
