/**
 * A fleet starts its devices at the rate asked for: device n, n / rate seconds
 * after the first, for slow rates (below one device per 50 ms tick) and rates
 * that are not a whole number of devices per tick alike.
 */
import t from 'tap';
import { startFleet } from '../../firmware-sim/fleet.js';
import { acceptAndRecord, startBroker } from './helpers/broker.js';
import { until } from './helpers/wait.js';

for (const { rate, devices } of [
  { rate: 5, devices: 6 },
  { rate: 30, devices: 31 },
]) {
  t.test(`--connect-rate ${rate}: ${devices} devices connect over ${((devices - 1) / rate).toFixed(2)} s`, async (t) => {
    const connects: number[] = [];
    const broker = await startBroker({ aedes: { authenticate: acceptAndRecord(connects) } });
    t.teardown(() => broker.close());
    const fleet = startFleet({
      url: broker.url,
      credentials: Array.from({ length: devices }, (_, index) => ({ id: `rate-${rate}-${index}` })),
      connectRatePerSecond: rate,
      heartbeatSeconds: 60,
    });
    t.teardown(() => fleet.stop());
    await fleet.started;
    await until(() => connects.length === devices, 5000, 'every device to connect');
    // Measured from the second CONNECT: the first pays the process's warm-up (CI saw it arrive 150 ms
    // after its start on a loaded machine), which shortens the span it begins.
    const expectedMs = ((devices - 2) * 1000) / rate;
    const spanMs = (connects.at(-1) as number) - (connects[1] as number);
    t.ok(spanMs >= expectedMs * 0.85, `the second and the last connected ${spanMs} ms apart, expected about ${expectedMs.toFixed(0)} ms`);
    // Timers only fire late, never early: the upper bound leaves room for a loaded machine (the bug was a span too short).
    t.ok(spanMs < expectedMs * 4, `and not much slower than asked (${spanMs} ms)`);
  });
}
