import t from 'tap';
import { connectMqtt } from '../helpers/clients.js';
import { startTestHub } from '../helpers/hub.js';
import { nextMessage } from '../helpers/devices.js';

t.test('retained messages: exact topics from the index, wildcards by scan, empty payload clears', async (t) => {
  const hub = await startTestHub(t);
  hub.context.mqtt.setAuthenticator(async ({ clientId }) => ({ kind: 'device', deviceId: clientId }));
  await hub.context.mqtt.publish('v1/devices/d1/schedule', { version: 3 }, { retain: true });
  await hub.context.mqtt.publish('v1/devices/d2/schedule', { version: 9 }, { retain: true });

  const exact = await connectMqtt(t, hub, { clientId: 'd1', username: 'd1', password: 'x' });
  const viaIndex = await nextMessage(exact, 'v1/devices/d1/schedule');
  t.same(viaIndex, { payload: { version: 3 }, retain: true }, 'an exact subscription gets its retained message');

  const wild = await connectMqtt(t, hub, { clientId: 'd2', username: 'd2', password: 'x' });
  const viaScan = new Promise<{ topic: string; payload: unknown; retain: boolean }>((resolve) =>
    wild.once('message', (topic, payload, packet) => resolve({ topic, payload: JSON.parse(payload.toString()), retain: packet.retain })),
  );
  await wild.subscribeAsync('v1/devices/d2/#', { qos: 1 });
  t.same(await viaScan, { topic: 'v1/devices/d2/schedule', payload: { version: 9 }, retain: true }, 'a wildcard subscription still finds it');

  await new Promise<void>((resolve, reject) =>
    hub.context.mqtt.broker.publish({ cmd: 'publish', topic: 'v1/devices/d1/schedule', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false }, (error) => (error ? reject(error) : resolve())),
  );
  const late = await connectMqtt(t, hub, { clientId: 'd1', username: 'd1', password: 'x', clean: true });
  await t.rejects(nextMessage(late, 'v1/devices/d1/schedule', 500), /no message/, 'an empty retained payload clears the topic');
});
