/**
 * Running the simulator again after the hub restarted: provisioning the same serials is answered
 * by an idempotent replay that names the MQTT port of the earlier run, while a hub that found 1883
 * taken listens on another port at each start. The simulator connects to the port the hub names
 * now (`/ready`), not to the stale one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { liveMqttUrl, mqttUrlOf, provisionDevices } from '../../firmware-sim/provision.js';
import { createOrganisation } from '../helpers/factories.js';
import { startTestHub, withDatabase } from '../helpers/hub.js';
import { login } from '../helpers/factories.js';

t.test('the simulator finds the broker of a restarted hub although provisioning replays the old port', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'medhub-live-port-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { DATA_DIR: dataDir, JWT_SECRET: `live-port-${randomUUID()}`, ...(process.env.MONGO_URL ? { MONGO_URL: withDatabase(process.env.MONGO_URL, `medhub_live_port_${randomUUID().slice(0, 8)}`) } : {}) };
  const before = await startTestHub(t, { persistentStore: true, env });
  const admin = await createOrganisation(before, 'Live Port');
  const first = await provisionDevices({ hubUrl: before.urls.http, token: admin.token, count: 1, serialPrefix: 'LIVE' });
  t.equal(mqttUrlOf(first[0]!), `mqtt://${first[0]!.mqtt.host}:${before.mqttPort}`);
  const oldPort = before.mqttPort;
  await before.close();

  const hub = await startTestHub(t, { persistentStore: true, env });
  t.not(hub.mqttPort, oldPort, 'the restarted hub listens on another port');
  const token = (await login(hub, admin.email)).token;
  const again = await provisionDevices({ hubUrl: hub.urls.http, token, count: 1, serialPrefix: 'LIVE' });
  t.equal(again[0]!.id, first[0]!.id, 'the same device (an idempotent replay)');
  t.equal(again[0]!.mqtt.port, oldPort, 'whose answer names the old port');
  t.equal(await liveMqttUrl(hub.urls.http, again[0]!), `mqtt://${again[0]!.mqtt.host}:${hub.mqttPort}`, 'the simulator uses the port the hub names now');
});
