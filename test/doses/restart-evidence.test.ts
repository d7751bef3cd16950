/**
 * A hub that was down does not call the doses of its outage missed: the device status stored
 * before the outage still says "online", but nobody kept it. The restarted hub's first sweep
 * finds the dispenser not heard from within its heartbeat timeout (not watching: unknown), a
 * dispenser that comes back is online from its return (doses due during the gap: unknown), and
 * a dose due after its return is called missed as before.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { ManualClock } from '../../src/ports/clock.js';
import { startTestHub, withDatabase } from '../helpers/hub.js';
import { connectDevice, eventually, heartbeat, provisionDevice, topic } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { as, dosesOf } from './helpers.js';
import type { Hub } from '../../src/hub.js';

t.test('doses due while the hub was down are unknown, not missed; doses after the dispenser is back are judged again', async (t) => {
  const clock = new ManualClock('2026-06-10T05:00:00Z'); // 07:00 in Paris
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-restart-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  // The same store and secrets across the restart (a database of its own on a real MongoDB).
  const env = { DATA_DIR: dataDir, JWT_SECRET: `restart-${randomUUID()}`, ...(process.env.MONGO_URL ? { MONGO_URL: withDatabase(process.env.MONGO_URL, `medhub_restart_${randomUUID().slice(0, 8)}`) } : {}) };
  const start = (): Promise<Hub> => startTestHub(t, { clock, persistentStore: true, env });

  const before = await start();
  const s = await careScenario(before);
  const device = await provisionDevice(before, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 180 });
  const first = await connectDevice(t, before, device);
  await eventually(async () => (await before.features.devices.models.Device.findById(device.id).lean())?.status?.online === true);
  const plan = {
    medications: [{ id: 'metformin', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 60 }],
    schedule: [{ id: 'daily', medicationId: 'metformin', times: ['08:00', '09:00', '10:00'], startDate: '2026-06-10' }],
  };
  const created = await as(before, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, plan);
  t.equal(created.status, 201, JSON.stringify(created.body));
  await before.features.doses.service.sweep();

  // 07:30 local: the hub goes down; its dispenser's connection goes with it, unseen.
  clock.set('2026-06-10T05:30:00Z');
  first.end(true);
  await before.close();

  // 09:30 local: back. The 08:00 dose closed (09:00) during the outage.
  clock.set('2026-06-10T07:30:00Z');
  const hub = await start();
  const { Device } = hub.features.devices.models;
  t.equal((await Device.findById(device.id).lean())?.status?.online, true, 'the stored status still says online');
  t.match(await hub.features.doses.service.sweep(), { missed: 0, unknown: 1 }, 'the first sweep: nobody heard the dispenser since 07:00, so the 08:00 dose is unknown');

  // 09:35: the dispenser is back. It was away longer than its heartbeat timeout: online from now.
  clock.set('2026-06-10T07:35:00Z');
  const client = await connectDevice(t, hub, device);
  await eventually(async () => (await Device.findById(device.id).lean())?.status?.changedAt?.getTime() === clock.now().getTime());
  t.pass('its status is dated from its return');

  // 10:00: the 09:00 dose (due during the gap) closes, with the dispenser heard from a moment ago.
  await heartbeatAt(hub, client, device.id, clock, '2026-06-10T08:00:00Z');
  t.match(await hub.features.doses.service.sweep(), { missed: 0, unknown: 1 }, 'the 09:00 dose, due while it was away: unknown');

  // 11:00: the 10:00 dose, due after its return, went unreported: missed, as before.
  await heartbeatAt(hub, client, device.id, clock, '2026-06-10T09:00:00Z');
  t.match(await hub.features.doses.service.sweep(), { missed: 1, unknown: 0 }, 'the 10:00 dose: missed');

  const states = (await dosesOf(hub, s.clinician, s.patient.id, '2026-06-10T00:00:00Z', '2026-06-10T12:00:00Z')).map((d) => [d.dueAt, d.state, d.evidence ?? null]);
  t.same(states, [
    ['2026-06-10T06:00:00.000Z', 'unknown', 'device_offline'],
    ['2026-06-10T07:00:00.000Z', 'unknown', 'device_offline'],
    ['2026-06-10T08:00:00.000Z', 'missed', 'device_online_no_event'],
  ]);
  const alerts = await hub.features.alerts.models.Alert.find({ type: 'dose.missed' }).lean();
  t.equal(alerts.length, 1, 'one dose.missed alert: the 10:00 dose');
});

/** Moves the clock and has the dispenser heartbeat, waiting until the hub has heard it. */
async function heartbeatAt(hub: Hub, client: Awaited<ReturnType<typeof connectDevice>>, deviceId: string, clock: ManualClock, iso: string): Promise<void> {
  clock.set(iso);
  await client.publishAsync(topic(deviceId, 'heartbeat'), JSON.stringify(heartbeat({ at: iso })), { qos: 1 });
  await eventually(async () => (await hub.features.devices.models.Device.findById(deviceId).lean())?.status?.lastSeenAt?.getTime() === clock.now().getTime());
}
