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
    'LOG_LEVEL must be equal to one of the allowed values',
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
