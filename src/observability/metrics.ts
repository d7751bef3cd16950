/**
 * Prometheus metrics. Each hub owns its registry (tests run several hubs in one
 * process, and prom-client's global registry would mix them).
 */
import { readdir } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Histogram<'method' | 'route' | 'status'>;
  mqttConnections: Gauge;
  mqttMessages: Counter<'direction' | 'kind'>;
  mqttRejected: Counter<'reason'>;
  socketConnections: Gauge;
  storeCommands: Histogram<'command' | 'outcome'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetricsCheaply(registry);
  return {
    registry,
    httpRequests: new Histogram({
      name: 'medhub_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    mqttConnections: new Gauge({
      name: 'medhub_mqtt_connections',
      help: 'Connected MQTT clients',
      registers: [registry],
    }),
    mqttMessages: new Counter({
      name: 'medhub_mqtt_messages_total',
      help: 'MQTT messages by direction (in/out) and kind (topic leaf)',
      labelNames: ['direction', 'kind'],
      registers: [registry],
    }),
    mqttRejected: new Counter({
      name: 'medhub_mqtt_rejected_total',
      help: 'MQTT connections, packets or messages refused, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    socketConnections: new Gauge({
      name: 'medhub_socket_connections',
      help: 'Connected Socket.IO clients',
      registers: [registry],
    }),
    storeCommands: new Histogram({
      name: 'medhub_store_command_duration_seconds',
      help: 'Database command latency by command name and outcome: as the driver sees it, or inside the embedded store, from arrival to reply',
      labelNames: ['command', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
  };
}

/**
 * prom-client's default metrics (nodejs_eventloop_lag_seconds and friends), less those whose cost
 * grows with the connections held: the active handles and resources (a JS object for each of
 * 10,000 device sockets, twice) and the open file descriptors (a synchronous readdir of
 * /proc/self/fd). With 10,000 devices connected one scrape held the event loop for ≈ 50 ms (runs AR
 * in docs/benchmarks/ingest.md). The descriptors are still counted, off the event loop; the
 * connections have gauges of their own.
 */
const EXPENSIVE_DEFAULTS = ['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds'];

function collectDefaultMetricsCheaply(registry: Registry): void {
  const prefix = 'medhub_';
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of EXPENSIVE_DEFAULTS) registry.removeSingleMetric(prefix + name);
  if (process.platform !== 'linux') return;
  new Gauge({
    name: `${prefix}process_open_fds`,
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // Less the one this readdir opened.
        this.set((await readdir('/proc/self/fd')).length - 1);
      } catch {
        // Not readable here: the gauge keeps its last value.
      }
    },
  });
}
