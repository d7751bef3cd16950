/**
 * Alerts raised from devices: a help request is critical and reaches the
 * caregiver's socket at once; a low battery and a dispenser going offline
 * raise alerts that clear themselves; access follows the patient policy.
 */
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { nextEventWhere, request } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { connectDevice, eventually, heartbeat, provisionDevice, topic } from '../helpers/devices.js';
import { alertScenario, signedInSocket } from './helpers.js';

type Payload = Record<string, unknown>;

t.test('help.requested on a dispenser raises a critical alert on the caregiver socket; the outsider cannot see it; the caregiver acks', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const raised = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'help.requested');
  const notified = nextEventWhere<Payload>(caregiver, 'alert:notify', (a) => a.type === 'help.requested');

  const client = await connectDevice(t, hub, device);
  const event = { eventId: randomUUID(), type: 'help.requested', at: new Date().toISOString() };
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  const alert = await raised;
  t.match(alert, { type: 'help.requested', severity: 'critical', status: 'active', patientId: s.patient.id, deviceId: device.id, cause: `help.requested:${device.id}` });
  t.equal(alert.tier, 1, 'a call for help starts at the second tier (both tiers told at once)');
  const notice = await notified;
  t.equal(notice.patientInitials, 'A.', 'the notification names the patient by initials only');
  t.notOk('name' in notice);

  // The same button pressed again while the alert is open adds nothing.
  await client.publishAsync(topic(device.id, 'events'), JSON.stringify({ ...event, eventId: randomUUID() }), { qos: 1 });
  const list = await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}`, { token: s.caregiver.token });
  t.equal(list.status, 200);
  t.equal(list.body.items.length, 1, 'one open alert per cause');

  const id = String(alert.id);
  t.equal((await request(hub, 'GET', `/api/v1/alerts/${id}`, { token: s.outsider.token })).status, 404, 'a caregiver off the team does not see it');
  t.equal((await request(hub, 'POST', `/api/v1/alerts/${id}/ack`, { token: s.outsider.token, body: {} })).status, 404);
  t.equal((await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}`, { token: s.outsider.token })).status, 404);
  t.same((await request(hub, 'GET', '/api/v1/alerts', { token: s.outsider.token })).body.items, [], 'the outsider lists nothing');

  const updated = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.id === id);
  const ack = await caregiver.timeout(5000).emitWithAck('alert:ack', { alertId: id, note: 'on my way' });
  t.equal(ack.ok, true);
  t.match(ack.alert, { status: 'acknowledged', acknowledged: { by: s.caregiver.userId, note: 'on my way' }, nextEscalationAt: null });
  t.match(await updated, { id, status: 'acknowledged' });

  const resolved = await request(hub, 'POST', `/api/v1/alerts/${id}/resolve`, { token: s.caregiver.token, body: { note: 'all fine' } });
  t.equal(resolved.status, 200);
  t.match(resolved.body, { status: 'resolved', resolved: { by: s.caregiver.userId, note: 'all fine', auto: false } });
  t.equal((await request(hub, 'POST', `/api/v1/alerts/${id}/ack`, { token: s.caregiver.token, body: {} })).status, 409, 'a resolved alert cannot be acknowledged');
  const bad = await caregiver.timeout(5000).emitWithAck('alert:resolve', { alertId: id });
  t.match(bad, { ok: false, error: { code: 'validation_failed' } });

  const audit = await hub.features.identity.audit.model.find({ objectType: 'alert', objectId: id }).lean();
  t.ok(audit.some((e) => e.action === 'alert.acknowledge' && e.outcome === 'allowed' && e.via === 'socket'), 'socket ack audited');
  t.ok(audit.some((e) => e.action === 'alert.read' && e.outcome === 'denied'), 'the outsider attempt audited');
});

t.test('an event stored but whose alert could not be raised is acted on when the device resends it', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const raised = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'help.requested', 15_000);
  // The store refuses the alert the first time: a unique index that the alerts collection's one open alert already fills.
  const alerts = hub.features.alerts.models.Alert.collection;
  await alerts.insertOne({ refusesHelp: true, type: 'help.requested' });
  await alerts.createIndex({ type: 1 }, { unique: true, partialFilterExpression: { type: 'help.requested' }, name: 'refuses_help' });

  const client = await connectDevice(t, hub, device, { reconnectPeriod: 300 });
  const dropped = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const event = { eventId: randomUUID(), type: 'help.requested', at: new Date().toISOString() };
  const acked = client.publishAsync(topic(device.id, 'events'), JSON.stringify(event), { qos: 1 });
  await dropped;
  t.pass('the hub could not act on the event: no ack, the device is disconnected');
  t.equal(await hub.features.devices.models.DeviceEvent.countDocuments({ eventId: event.eventId, processed: false }), 1, 'the event is stored, not processed');

  await alerts.dropIndex('refuses_help');
  await alerts.deleteOne({ refusesHelp: true });
  await acked; // MQTT.js resends it on reconnecting, and this time it is acknowledged
  const alert = await raised;
  t.match(alert, { type: 'help.requested', deviceId: device.id }, 'the resend raised the alert its first arrival could not');
  t.equal(await hub.features.devices.models.DeviceEvent.countDocuments({ eventId: event.eventId }), 1, 'the event is stored once');
  await eventually(async () => (await hub.features.devices.models.DeviceEvent.findOne({ eventId: event.eventId }).lean())?.processed === true);
  t.pass('and marked processed');
  t.equal(await hub.features.alerts.models.Alert.countDocuments({ cause: `help.requested:${device.id}` }), 1, 'one alert');
});

t.test('battery.low from heartbeats and device.offline from presence raise and clear themselves', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const client = await connectDevice(t, hub, device);

  const low = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'battery.low');
  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: 12 })), { qos: 0 });
  t.match(await low, { severity: 'warning', details: { batteryPercent: 12 } });
  const charged = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.type === 'battery.low' && a.status === 'resolved');
  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ batteryPercent: 80 })), { qos: 0 });
  t.match(await charged, { resolved: { auto: true, by: null } });

  const offline = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'device.offline');
  client.stream.destroy();
  t.match(await offline, { cause: `device.offline:${device.id}`, deviceId: device.id });
  const back = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.type === 'device.offline' && a.status === 'resolved');
  await connectDevice(t, hub, device);
  t.match(await back, { resolved: { auto: true, note: 'Device back online' } });
  await eventually(async () => (await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}&status=resolved`, { token: s.clinician.token })).body.items.length === 2);

  // Offline, back and gone again at once: the resolve of the first alert must not swallow the second.
  const presence = hub.features.devices.presence;
  await presence.offline(device.id, 'connection_lost');
  const alerts = async (status: string) => (await request(hub, 'GET', `/api/v1/alerts?patientId=${s.patient.id}&status=${status}`, { token: s.clinician.token })).body.items as Payload[];
  await eventually(async () => (await alerts('active')).some((a) => a.type === 'device.offline'));
  await Promise.all([presence.online(device.id), presence.offline(device.id, 'connection_lost')]);
  await eventually(async () => (await alerts('resolved')).filter((a) => a.type === 'device.offline').length === 2);
  const open = (await alerts('active')).filter((a) => a.type === 'device.offline');
  t.equal(open.length, 1, 'the dispenser that dropped again has an open device.offline alert');
});

t.test('a device called offline by silence while still connected is back online with its next heartbeat, and its alert resolves', async (t) => {
  const clock = new ManualClock(new Date());
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 60 });
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const client = await connectDevice(t, hub, device);
  const { presence } = hub.features.devices;
  await eventually(async () => (await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status.online === true);

  // Its firmware stalls: the connection stays up, nothing is heard for longer than the timeout.
  const silent = nextEventWhere<Payload>(caregiver, 'alert:raised', (a) => a.type === 'device.offline');
  clock.advance(61_000);
  t.equal(await presence.sweepSilent(), 1);
  t.match(await silent, { details: { reason: 'silent' } });

  const online = nextEventWhere<Payload>(caregiver, 'device:status', (u) => u.deviceId === device.id && u.online === true);
  const resolved = nextEventWhere<Payload>(caregiver, 'alert:updated', (a) => a.type === 'device.offline' && a.status === 'resolved');
  await client.publishAsync(topic(device.id, 'heartbeat'), JSON.stringify(heartbeat({ at: clock.now().toISOString(), batteryPercent: 77 })), { qos: 0 });
  t.match(await online, { online: true, reason: null }, 'caregivers see it online again');
  t.match(await resolved, { resolved: { auto: true, note: 'Device back online' } }, 'and its device.offline alert resolves itself');
  t.match((await request(hub, 'GET', `/api/v1/devices/${device.id}`, { token: s.clinician.token })).body.status, { online: true, batteryPercent: 77 });
});

t.test('a heartbeat written after its device dropped does not bring it back online', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const { ingest, presence, models } = hub.features.devices;
  await presence.offline(device.id, 'disconnected');
  // The service the MQTT route calls: the heartbeat arrived, then its device's connection went away.
  t.equal(hub.context.mqtt.isConnected(device.id), false);
  await ingest.heartbeat(device.id, heartbeat({ batteryPercent: 66 }) as never);
  const stored = await models.Device.findById(device.id).lean();
  t.equal(stored?.status?.online, false, 'still offline');
  t.equal(stored?.status?.batteryPercent, 66, 'with the heartbeat’s status stored');
});

t.test('a jam on an unassigned dispenser is an alert for staff only; a patient sees their own alert but leaves ack and resolve to the care team', async (t) => {
  const hub = await startTestHub(t);
  const s = await alertScenario(hub);
  const spare = await provisionDevice(hub, s.clinician);
  const staff = await signedInSocket(t, hub, s.clinician.token);
  const raised = nextEventWhere<Payload>(staff, 'alert:raised', (a) => a.type === 'device.jam');
  const client = await connectDevice(t, hub, spare);
  await client.publishAsync(topic(spare.id, 'events'), JSON.stringify({ eventId: randomUUID(), type: 'device.jam', at: new Date().toISOString(), slot: 3 }), { qos: 1 });
  const jam = await raised;
  t.match(jam, { patientId: null, deviceId: spare.id, severity: 'warning', details: { slot: 3 } });
  t.equal((await request(hub, 'GET', `/api/v1/alerts/${String(jam.id)}`, { token: s.clinician.token })).status, 200);
  t.equal((await request(hub, 'GET', `/api/v1/alerts/${String(jam.id)}`, { token: s.caregiver.token })).status, 404, 'not a caregiver’s business');

  const own = await hub.features.alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'dose.late', cause: 'dose.late:occ-p' });
  t.equal((await request(hub, 'GET', `/api/v1/alerts/${own.id}`, { token: s.patientUser.token })).body.severity, 'info');
  const patient = await signedInSocket(t, hub, s.patientUser.token);
  t.match(await patient.timeout(5000).emitWithAck('alert:ack', { alertId: own.id }), { ok: false, error: { code: 'forbidden' } }, 'acknowledging is the care team’s act (patient-acts.test.ts)');
  t.match(await patient.timeout(5000).emitWithAck('alert:resolve', { alertId: own.id, note: 'took it' }), { ok: false, error: { code: 'forbidden' } }, 'a taken dose is confirmed, not resolved by the patient');
  t.match(await patient.timeout(5000).emitWithAck('alert:ack', { alertId: String(jam.id) }), { ok: false, error: { code: 'not_found' } }, 'a patient cannot act on a device alert of the organisation');
});
