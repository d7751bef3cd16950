/**
 * The process entry: read the configuration, start the hub, print where each
 * transport listens, and stop cleanly on SIGINT/SIGTERM. Problems a person can
 * fix (bad config, a taken port) are one clear message and a non-zero exit,
 * never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadEnvFile, type Config } from './config.js';
import { startHub, type Hub } from './hub.js';
import { packageRoot } from './paths.js';
import { PortInUseError } from './transports/listen.js';

const EXIT_CONFIG = 78; // EX_CONFIG from sysexits.h
const EXIT_FAILURE = 1;

async function main(): Promise<void> {
  let config: Config;
  try {
    loadEnvFile();
    config = loadConfig();
  } catch (error) {
    return fail(error instanceof ConfigError ? error.message : String(error), EXIT_CONFIG);
  }

  let hub: Hub;
  try {
    hub = await startHub({ config, onFatal: (error) => fail(`medhub stopped: ${error.message}; restart it (acknowledged writes are in the store's journal).`, EXIT_FAILURE) });
  } catch (error) {
    if (error instanceof PortInUseError) return fail(`Cannot start medhub: ${error.message}.`, EXIT_FAILURE);
    return fail(`Cannot start medhub: ${error instanceof Error ? error.message : String(error)}`, EXIT_FAILURE);
  }
  printBanner(hub, config);
  stopOnSignals(hub, config.shutdownTimeoutMs);
}

function printBanner(hub: Hub, config: Config): void {
  const { urls } = hub;
  const store = hub.context.store;
  const version = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const fallback = !config.mqtt.portExplicit && hub.mqttPort !== config.mqtt.port ? `   (port ${config.mqtt.port} was taken)` : '';
  const lines = [
    `medhub ${version} is running (${config.nodeEnv})`,
    `  REST API        ${urls.api}`,
    `  Socket.IO       ${urls.socket}`,
    `  MQTT            ${urls.mqtt}${fallback}`,
    `  MQTT over WS    ${urls.mqttWs}`,
    `  Store           ${store.kind === 'embedded' ? `embedded, ${store.embeddedUri} (data in ${config.dataDir})` : 'MongoDB (MONGO_URL)'}`,
    `  Health          ${urls.http}/ready   metrics ${urls.http}/metrics`,
    'Press Ctrl-C to stop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function stopOnSignals(hub: Hub, timeoutMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`Received ${signal} again; exiting now.\n`);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    process.stdout.write(`Received ${signal}; stopping medhub…\n`);
    const deadline = setTimeout(() => {
      process.stderr.write(`medhub did not stop within ${timeoutMs} ms; exiting.\n`);
      process.exit(EXIT_FAILURE);
    }, timeoutMs);
    deadline.unref();
    hub.close().then(
      () => process.exit(0),
      (error: unknown) => fail(`Error while stopping: ${String(error)}`, EXIT_FAILURE),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function fail(message: string, code: number): void {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

void main();
