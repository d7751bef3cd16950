import t from 'tap';
import { ConfigError, loadConfig } from '../../src/config.js';

t.test('defaults make a runnable development hub', async (t) => {
  const config = loadConfig({});
  t.match(config, { nodeEnv: 'development', port: 8080, mqtt: { port: 1883, portExplicit: false, wsPath: '/mqtt' }, dataDir: './data', logLevel: 'info' });
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.mqtt), 'frozen, deeply');
});

t.test('every problem is listed at once', async (t) => {
  const error = t.throws(() => loadConfig({ PORT: 'abc', MQTT_PORT: '70000', MONGO_URL: 'http://x', LOG_LEVEL: 'loud', NODE_ENV: 'production' })) as ConfigError;
  t.type(error, ConfigError);
  t.same(error.problems.sort(), [
    'JWT_SECRET is required when NODE_ENV=production',
    'LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent',
    'MONGO_URL must match pattern "^mongodb(\\+srv)?://"',
    'MQTT_PORT must be <= 65535',
    'PORT must be integer',
  ]);
});

t.test('explicit values are typed and an explicit MQTT port is remembered as such', async (t) => {
  const config = loadConfig({ PORT: '9000', MQTT_PORT: '0', REDIS_URL: 'redis://127.0.0.1:6379', OPENAI_MODEL: 'llama3', '': '' });
  t.equal(config.port, 9000);
  t.equal(config.mqtt.port, 0);
  t.equal(config.mqtt.portExplicit, true);
  t.equal(config.redisUrl, 'redis://127.0.0.1:6379');
  t.equal(config.openai.model, 'llama3');
  t.equal(loadConfig({ MQTT_PORT: '' }).mqtt.portExplicit, false, 'an empty value means unset');
});

t.test('voice and heartbeat settings that would break at run time are refused at start', async (t) => {
  for (const [key, value] of [
    ['DEEPGRAM_AGENT_URL', 'ws://agent.example.com/v1/agent/converse'],
    ['DEEPGRAM_AGENT_URL', 'wss://'],
    ['DEEPGRAM_BASE_URL', 'mailto:ops@example.com'],
    ['HEARTBEAT_BATCH_MS', '0'],
    ['DEVICE_OFFLINE_ALERT_SECONDS', '-1'],
    ['DEVICE_OFFLINE_ALERT_SECONDS', '3601'],
    ['VOICE_TOKEN_TTL_SECONDS', '3601'],
  ]) {
    t.throws(() => loadConfig({ [key as string]: value }), ConfigError, `${key}=${value}`);
  }
  const config = loadConfig({ DEEPGRAM_AGENT_URL: 'ws://127.0.0.1:9000/agent', DEEPGRAM_BASE_URL: 'http://127.0.0.1:9001' });
  t.match(config.deepgram, { agentUrl: 'ws://127.0.0.1:9000/agent', baseUrl: 'http://127.0.0.1:9001' }, 'ws:// on loopback, for local test servers');
  t.match(config.voice, { tokenTtlSeconds: 30, sessionMinutes: 60 });
  t.equal(config.devices.offlineAlertSeconds, 120, 'device.offline after two minutes by default');
});
