/**
 * Device reads are patient data (whose dispenser, its status, what was sent to it): listing devices
 * and reading their commands are audited like every other read, denied attempts included.
 */
import t from 'tap';
import { request } from '../helpers/clients.js';
import { provisionDevice } from '../helpers/devices.js';
import { careScenario } from '../helpers/factories.js';
import { startTestHub } from '../helpers/hub.js';

interface AuditEntry {
  action: string;
  outcome: string;
  objectId: string | null;
  actor: { id: string };
}

t.test('device lists and command reads are in the audit log', async (t) => {
  const hub = await startTestHub(t);
  const s = await careScenario(hub);
  const device = await provisionDevice(hub, s.clinician, { patientId: s.patient.id });
  const issued = await request(hub, 'POST', `/api/v1/devices/${device.id}/commands`, { token: s.clinician.token, body: { type: 'ring', params: { durationSeconds: 5 } } });
  t.equal(issued.status, 201);
  const commandId = String(issued.body.commandId);

  t.equal((await request(hub, 'GET', '/api/v1/devices', { token: s.caregiver.token })).status, 200);
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}/commands`, { token: s.caregiver.token })).status, 200);
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}/commands/${commandId}`, { token: s.caregiver.token })).status, 200);
  t.equal((await request(hub, 'GET', `/api/v1/devices/${device.id}/commands`, { token: s.outsider.token })).status, 404);

  const log = await request<{ items: AuditEntry[] }>(hub, 'GET', '/api/v1/audit?limit=200', { token: s.admin.token });
  const seen = log.body.items.map((e) => `${e.actor.id} ${e.action} ${e.objectId ?? '-'} ${e.outcome}`);
  t.ok(seen.includes(`${s.caregiver.userId} device.list - allowed`), 'the list');
  t.equal(seen.filter((e) => e === `${s.caregiver.userId} device.commands.read ${device.id} allowed`).length, 2, 'the command list and the command');
  t.ok(seen.includes(`${s.outsider.userId} device.commands.read ${device.id} denied`), 'a denied attempt');
});
