/**
 * The provisioning client against a small local server that speaks the
 * contract the devices feature will implement (POST /api/v1/devices). The
 * integration test against the real hub belongs to that feature.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { provisionDevice, provisionDevices, ProvisioningError } from '../../firmware-sim/provision.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

async function hubStub(t: Test, respond: (seen: Seen, count: number, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const entry: Seen = {
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      contentType: req.headers['content-type'],
      body: JSON.parse(text || '{}') as Record<string, unknown>,
    };
    seen.push(entry);
    respond(entry, seen.length, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { seen, hubUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const created = (res: ServerResponse, serial: string) => {
  const id = `dev_${serial.toLowerCase()}`;
  res.writeHead(201, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id, secret: `secret-${serial}`, mqtt: { host: '127.0.0.1', port: 1883, wsPath: '/mqtt', username: id, topics: { events: `v1/devices/${id}/events` } } }));
};

t.test('sends the documented request and reads the answer', async (t) => {
  const hub = await hubStub(t, (seen, _count, res) => created(res, String(seen.body.serial)));
  const device = await provisionDevice({ serial: 'SN-1', name: 'Kitchen', patientId: 'pat_1' }, { hubUrl: hub.hubUrl, token: 'tok' });
  t.match(device, { id: 'dev_sn-1', secret: 'secret-SN-1', mqtt: { host: '127.0.0.1', port: 1883, username: 'dev_sn-1' } });
  t.match(hub.seen[0], {
    method: 'POST',
    url: '/api/v1/devices',
    authorization: 'Bearer tok',
    idempotencyKey: 'provision-SN-1',
    contentType: 'application/json',
    body: { serial: 'SN-1', name: 'Kitchen', patientId: 'pat_1' },
  });
});

t.test('retries a 503 with the same idempotency key, and reports a problem+json refusal', async (t) => {
  const hub = await hubStub(t, (seen, count, res) => {
    if (seen.body.serial === 'SN-FORBIDDEN') {
      res.writeHead(403, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Forbidden', status: 403, detail: 'not a device admin' }));
    } else if (count === 1) {
      res.writeHead(503).end();
    } else {
      created(res, String(seen.body.serial));
    }
  });
  const device = await provisionDevice({ serial: 'SN-2' }, { hubUrl: hub.hubUrl, token: 'tok' });
  t.equal(device.id, 'dev_sn-2');
  t.same(hub.seen.map((s) => s.idempotencyKey), ['provision-SN-2', 'provision-SN-2'], 'one retry, same key');
  const refused = await provisionDevice({ serial: 'SN-FORBIDDEN' }, { hubUrl: hub.hubUrl, token: 'tok' }).catch((error: unknown) => error);
  t.type(refused, ProvisioningError);
  t.match(refused, { status: 403, message: /not a device admin/ });
  t.equal(hub.seen.filter((s) => s.body.serial === 'SN-FORBIDDEN').length, 1, 'a 4xx is not retried');
});

t.test('provisions a fleet with numbered serials', async (t) => {
  const hub = await hubStub(t, (seen, _count, res) => created(res, String(seen.body.serial)));
  const devices = await provisionDevices({ hubUrl: `${hub.hubUrl}/`, token: 'tok', count: 12, serialPrefix: 'LOAD', concurrency: 4 });
  t.equal(devices.length, 12);
  t.equal(devices[11]?.id, 'dev_load-00012', 'results keep the serial order');
  t.equal(new Set(hub.seen.map((s) => s.body.serial)).size, 12);
});
