/**
 * A bare Aedes broker for comparison: no authentication, no policy, no
 * validation, no storage — it accepts every client, subscription and publish,
 * and acknowledges a QoS 1 publish as soon as it has routed it. Served as the
 * field notes advise (`net.createServer({ noDelay: true }, broker.handle)`) on
 * 127.0.0.1, any free port, which it prints as `port N` once listening.
 *
 *   node --import tsx scripts/bench/lib/bare-aedes.ts [index|memory]
 *
 * `index` (default) gives it the hub's retained-message index
 * (src/transports/mqtt/retained-index.ts), a persistence choice rather than
 * hub logic: stock in-memory persistence scans every retained message for
 * each new subscription, and with a retained schedule and status per device it
 * cannot take ten thousand connects (see firmware-sim/README.md). `memory` is
 * stock Aedes.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { persistenceWithRetainedIndex } from '../../../src/transports/mqtt/retained-index.js';

const mode = process.argv[2] ?? 'index';
if (mode !== 'index' && mode !== 'memory') throw new Error(`persistence must be index or memory, got ${mode}`);

const broker = await Aedes.createBroker(mode === 'index' ? { persistence: persistenceWithRetainedIndex() } : {});
const server = createServer({ noDelay: true }, broker.handle);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
});
const stop = (): void => {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
