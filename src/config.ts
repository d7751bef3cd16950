/**
 * The only reader of process.env. The environment is validated once against a
 * JSON Schema (every problem listed at once, Fastify-style), turned into a typed
 * object and frozen. Nothing else in the hub may look at process.env.
 */
import { existsSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import ipaddr from 'ipaddr.js';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly host: string;
  /** HTTP + Socket.IO + MQTT-over-WebSocket. */
  readonly port: number;
  readonly mqtt: {
    readonly port: number;
    /** True when MQTT_PORT was set: a taken port is then an error, not a fallback. */
    readonly portExplicit: boolean;
    readonly wsPath: string;
    /** Largest MQTT packet accepted, enforced on the socket before the parser buffers it. */
    readonly maxPacketBytes: number;
    /** Host name devices should use, reported in provisioning; defaults to the request's host. */
    readonly publicHost: string | undefined;
  };
  readonly devices: {
    /** At most one heartbeat per device per this many seconds goes into the history (0 = every one). */
    readonly heartbeatHistorySeconds: number;
    /** The pause between heartbeat writes while the hub has room: how long a heartbeat waits for company. */
    readonly heartbeatBatchMs: number;
    /** The longest pause between heartbeat writes while the hub is saturated (heartbeat-queue.ts). */
    readonly heartbeatMaxPauseMs: number;
    /** How long a patient's dispenser may be offline before device.offline is raised (0: at once). */
    readonly offlineAlertSeconds: number;
  };
  readonly mongoUrl: string | undefined;
  readonly dataDir: string;
  /** Where the embedded store runs: the hub's event loop (default) or a worker thread of its own. */
  readonly embeddedStoreThread: 'main' | 'worker';
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly jwtSecret: string | undefined;
  readonly corsOrigin: string;
  readonly http: {
    readonly bodyLimitBytes: number;
    /**
     * Reverse proxies in front of the hub that append the client's address to X-Forwarded-For. 0:
     * the header is ignored (the client chose it), and the connection's address is the client's.
     */
    readonly trustProxyHops: number;
  };
  readonly openai: { readonly apiKey: string | undefined; readonly baseURL: string | undefined; readonly model: string };
  readonly deepgram: {
    readonly apiKey: string | undefined;
    readonly baseUrl: string | undefined;
    /** The agent WebSocket URL handed to voice clients (Deepgram's own by default). */
    readonly agentUrl: string | undefined;
  };
  readonly voice: {
    /** Lifetime of the Deepgram token a voice client gets: it must open the agent socket within it. */
    readonly tokenTtlSeconds: number;
    /** How long a voice session accepts function calls after it starts. */
    readonly sessionMinutes: number;
  };
  readonly admin: { readonly email: string | undefined; readonly password: string | undefined };
  /** argon2id cost of password hashes (new ones; existing hashes verify with the parameters they carry). */
  readonly passwords: { readonly memoryKib: number; readonly timeCost: number; readonly parallelism: number };
  /** A failed login is answered no sooner than this after it began (ms), whatever the account's hash costs. */
  readonly loginFailureMinMs: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  readonly notify: {
    /**
     * Non-public networks (CIDR, e.g. `10.20.0.0/16`) that webhooks and SMS/voice gateways may reach.
     * Empty (the default): only public addresses — policy URLs are written by clinicians, and a URL
     * inside the hub's network would let them probe it (src/ports/adapters/notifiers/destinations.ts).
     */
    readonly allowedPrivateNetworks: readonly string[];
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const portSchema = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const urlSchema = { type: 'string', minLength: 1 } as const;

/** Schema of the environment variables medhub reads (names as in .env.example). */
const envSchema = {
  type: 'object',
  properties: {
    NODE_ENV: { enum: ['development', 'production', 'test'], default: 'development' },
    HOST: { type: 'string', minLength: 1, default: '0.0.0.0' },
    PORT: { ...portSchema, default: 8080 },
    MQTT_PORT: portSchema,
    MQTT_WS_PATH: { type: 'string', pattern: '^/[A-Za-z0-9/_-]*$', default: '/mqtt' },
    MQTT_MAX_PACKET_BYTES: { type: 'integer', minimum: 1024, maximum: 268435455, default: 65536 },
    MQTT_PUBLIC_HOST: { type: 'string', minLength: 1 },
    HEARTBEAT_HISTORY_SECONDS: { type: 'integer', minimum: 0, maximum: 86400, default: 900 },
    // Capped at HEARTBEAT_MAX_PAUSE_MS when larger.
    HEARTBEAT_BATCH_MS: { type: 'integer', minimum: 1, maximum: 10000, default: 50 },
    // At most 10 s: a status must stay well fresher than the shortest silence timeout (30 s).
    HEARTBEAT_MAX_PAUSE_MS: { type: 'integer', minimum: 0, maximum: 10000, default: 5000 },
    DEVICE_OFFLINE_ALERT_SECONDS: { type: 'integer', minimum: 0, maximum: 3600, default: 120 },
    MONGO_URL: { ...urlSchema, pattern: '^mongodb(\\+srv)?://' },
    DATA_DIR: { type: 'string', minLength: 1, default: './data' },
    EMBEDDED_STORE_THREAD: { enum: ['main', 'worker'], default: 'worker' },
    REDIS_URL: { ...urlSchema, pattern: '^rediss?://' },
    // Every key the hub writes to Redis starts with it: deployments sharing a Redis keep apart.
    REDIS_KEY_PREFIX: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'medhub:' },
    JWT_SECRET: { type: 'string', minLength: 32 },
    CORS_ORIGIN: { type: 'string', minLength: 1, default: '*' },
    HTTP_BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 52428800, default: 1048576 },
    TRUST_PROXY_HOPS: { type: 'integer', minimum: 0, maximum: 10, default: 0 },
    OPENAI_API_KEY: { type: 'string', minLength: 1 },
    OPENAI_BASE_URL: { ...urlSchema, format: 'uri' },
    OPENAI_MODEL: { type: 'string', minLength: 1, default: 'gpt-4o-mini' },
    DEEPGRAM_API_KEY: { type: 'string', minLength: 1 },
    DEEPGRAM_BASE_URL: { ...urlSchema, format: 'uri', pattern: '^https?://[^/?#\\s]+' },
    // wss:// with a host; ws:// (token and audio in the clear) only on this machine, for local test servers.
    DEEPGRAM_AGENT_URL: { ...urlSchema, format: 'uri', pattern: '^(wss://[^/?#\\s]+|ws://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:[0-9]+)?([/?#]|$))' },
    // Deepgram grants 1 to 3600 s; its own default is 30 s.
    VOICE_TOKEN_TTL_SECONDS: { type: 'integer', minimum: 1, maximum: 3600, default: 30 },
    VOICE_SESSION_MINUTES: { type: 'integer', minimum: 1, maximum: 1440, default: 60 },
    ADMIN_EMAIL: { type: 'string', format: 'email' },
    ADMIN_PASSWORD: { type: 'string', minLength: 12 },
    // OWASP's first argon2id configuration (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
    PASSWORD_HASH_MEMORY_KIB: { type: 'integer', minimum: 1024, maximum: 4194304, default: 19456 },
    PASSWORD_HASH_TIME_COST: { type: 'integer', minimum: 1, maximum: 20, default: 2 },
    PASSWORD_HASH_PARALLELISM: { type: 'integer', minimum: 1, maximum: 16, default: 1 },
    LOGIN_FAILURE_MIN_MS: { type: 'integer', minimum: 0, maximum: 10000, default: 1000 },
    LOG_LEVEL: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
    // Comma-separated addresses or CIDR ranges; each entry is checked by networkListProblems below.
    NOTIFY_ALLOWED_PRIVATE_NETWORKS: { type: 'string', maxLength: 4096 },
  },
  if: { required: ['NODE_ENV'], properties: { NODE_ENV: { const: 'production' } } },
  then: { required: ['JWT_SECRET'] },
} as const;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: true, strictRequired: false });
addFormats.default(ajv);
const validateEnv = ajv.compile(envSchema);

type Env = Record<string, string | undefined>;

/**
 * Variables from `.env` in the working directory, if there is one, into `process.env` — for the
 * processes a person starts (the hub, the scripts); variables already set win. Not with
 * NODE_ENV=production set in the environment. Tests pass their own environment to loadConfig.
 */
export function loadEnvFile(path = '.env'): boolean {
  // Production takes its configuration from the environment alone: a stray .env (a copy of
  // .env.example says NODE_ENV=development) must not change a deployed hub.
  if (process.env.NODE_ENV === 'production' || !existsSync(path)) return false;
  process.loadEnvFile(path);
  return true;
}

/** Reads, validates and freezes the configuration. Throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const known = Object.keys(envSchema.properties);
  // Empty strings mean "unset" (a common .env idiom); only known keys are copied.
  const input: Record<string, unknown> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const valid = validateEnv(input);
  // The `if` keyword adds a summary error of its own; the `then` error already names the problem.
  const problems = valid ? [] : (validateEnv.errors ?? []).filter((error) => error.keyword !== 'if').map(describeEnvError);
  problems.push(...networkListProblems('NOTIFY_ALLOWED_PRIVATE_NETWORKS', input.NOTIFY_ALLOWED_PRIVATE_NETWORKS));
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(toConfig(input as ValidEnv));
}

/** `10.0.0.5` → `10.0.0.5/32`, `fd00::/8` as is; null when the entry is neither an address nor a range. */
function toCidr(entry: string): string | null {
  // Four-part decimal only: ipaddr.js would also read `10` as 0.0.0.10, surely not what was meant.
  if (ipaddr.IPv4.isValidCIDRFourPartDecimal(entry) || ipaddr.IPv6.isValidCIDR(entry)) {
    const [ip, bits] = ipaddr.parseCIDR(entry);
    return `${ip.toString()}/${bits}`;
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(entry)) return `${entry}/32`;
  if (ipaddr.IPv6.isValid(entry)) return `${ipaddr.IPv6.parse(entry).toString()}/128`;
  return null;
}

const listEntries = (value: string): string[] =>
  value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

/** Every entry of a comma-separated network list that is not an address or CIDR range (JSON Schema cannot say). */
function networkListProblems(name: string, value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return listEntries(value)
    .filter((entry) => toCidr(entry) === null)
    .map((entry) => `${name} entry "${entry}" is not an IP address or CIDR range`);
}

function describeEnvError(error: { instancePath: string; message?: string; params: Record<string, unknown> }): string {
  const name = error.instancePath.replace(/^\//, '') || String(error.params.missingProperty ?? 'environment');
  if (error.params.missingProperty === 'JWT_SECRET') return 'JWT_SECRET is required when NODE_ENV=production';
  // ajv's enum message does not say which values: name them.
  if (Array.isArray(error.params.allowedValues)) return `${name} must be one of: ${error.params.allowedValues.join(', ')}`;
  return `${name} ${error.message ?? 'is invalid'}`;
}

/** The environment after validation: defaults applied, numbers coerced. */
interface ValidEnv {
  NODE_ENV: NodeEnv;
  HOST: string;
  PORT: number;
  MQTT_PORT?: number;
  MQTT_WS_PATH: string;
  MQTT_MAX_PACKET_BYTES: number;
  HEARTBEAT_HISTORY_SECONDS: number;
  HEARTBEAT_BATCH_MS: number;
  HEARTBEAT_MAX_PAUSE_MS: number;
  DEVICE_OFFLINE_ALERT_SECONDS: number;
  DATA_DIR: string;
  EMBEDDED_STORE_THREAD: 'main' | 'worker';
  REDIS_KEY_PREFIX: string;
  CORS_ORIGIN: string;
  HTTP_BODY_LIMIT_BYTES: number;
  TRUST_PROXY_HOPS: number;
  OPENAI_MODEL: string;
  VOICE_TOKEN_TTL_SECONDS: number;
  VOICE_SESSION_MINUTES: number;
  LOG_LEVEL: LogLevel;
  SHUTDOWN_TIMEOUT_MS: number;
  PASSWORD_HASH_MEMORY_KIB: number;
  PASSWORD_HASH_TIME_COST: number;
  PASSWORD_HASH_PARALLELISM: number;
  LOGIN_FAILURE_MIN_MS: number;
  [optional: string]: string | number | undefined;
}

function toConfig(e: ValidEnv): Config {
  const optional = (key: string): string | undefined => (e[key] === undefined ? undefined : String(e[key]));
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    mqtt: {
      port: e.MQTT_PORT ?? 1883,
      portExplicit: e.MQTT_PORT !== undefined,
      wsPath: e.MQTT_WS_PATH,
      maxPacketBytes: e.MQTT_MAX_PACKET_BYTES,
      publicHost: optional('MQTT_PUBLIC_HOST'),
    },
    devices: { heartbeatHistorySeconds: e.HEARTBEAT_HISTORY_SECONDS, heartbeatBatchMs: e.HEARTBEAT_BATCH_MS, heartbeatMaxPauseMs: e.HEARTBEAT_MAX_PAUSE_MS, offlineAlertSeconds: e.DEVICE_OFFLINE_ALERT_SECONDS },
    mongoUrl: optional('MONGO_URL'),
    dataDir: e.DATA_DIR,
    embeddedStoreThread: e.EMBEDDED_STORE_THREAD,
    redisUrl: optional('REDIS_URL'),
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    jwtSecret: optional('JWT_SECRET'),
    corsOrigin: e.CORS_ORIGIN,
    http: { bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES, trustProxyHops: e.TRUST_PROXY_HOPS },
    openai: { apiKey: optional('OPENAI_API_KEY'), baseURL: optional('OPENAI_BASE_URL'), model: e.OPENAI_MODEL },
    deepgram: { apiKey: optional('DEEPGRAM_API_KEY'), baseUrl: optional('DEEPGRAM_BASE_URL'), agentUrl: optional('DEEPGRAM_AGENT_URL') },
    voice: { tokenTtlSeconds: e.VOICE_TOKEN_TTL_SECONDS, sessionMinutes: e.VOICE_SESSION_MINUTES },
    admin: { email: optional('ADMIN_EMAIL'), password: optional('ADMIN_PASSWORD') },
    passwords: { memoryKib: e.PASSWORD_HASH_MEMORY_KIB, timeCost: e.PASSWORD_HASH_TIME_COST, parallelism: e.PASSWORD_HASH_PARALLELISM },
    loginFailureMinMs: e.LOGIN_FAILURE_MIN_MS,
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    notify: { allowedPrivateNetworks: listEntries(optional('NOTIFY_ALLOWED_PRIVATE_NETWORKS') ?? '').flatMap((entry) => toCidr(entry) ?? []) },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
