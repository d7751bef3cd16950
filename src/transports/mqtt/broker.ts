/**
 * The embedded Aedes broker, served on TCP (noDelay: without it strict QoS 1
 * request/reply waits ~44 ms per round trip on Nagle + delayed ACK) and on
 * WebSocket at MQTT_WS_PATH. Policy is injected as Aedes hooks, each a short
 * named step (after Aedes's own handler-per-packet style):
 *
 *   preConnect        remember the client id the device asked for
 *   authenticate      empty id refused [MQTT-3.1.3-8]; id must equal username; the feature's authenticator decides
 *   authorizeSubscribe own namespace only, else SUBACK 0x80 (connection kept)
 *   authorizePublish  own namespace + a routed topic, else disconnect (3.1.1 has no negative PUBACK);
 *                     then parse → validate → handle, and only then acknowledge
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { finished, type Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config } from '../../config.js';
import { AppError, toPublicError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { schemas } from '../../schemas.js';
import { closeServer, listen } from '../listen.js';
import { guardConnection, PacketTooLargeError } from './packet-size-guard.js';
import {
  connackCodeFor,
  CONNACK,
  deviceNamespace,
  isOwnTopic,
  isWithinOwnNamespace,
  refuseEveryone,
  type MqttAuthenticator,
  type MqttPrincipal,
} from './policy.js';
import type { BrokerCluster } from './cluster.js';
import { persistenceWithRetainedIndex, type RetainedPacket } from './retained-index.js';
import { MqttRouter, type InboundMessage } from './router.js';
import { createSessionTracker } from './sessions.js';
import { guardSubscriptionStore } from './subscription-store.js';

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
}

export interface MqttTransport {
  readonly router: MqttRouter;
  readonly broker: Aedes;
  setAuthenticator(authenticator: MqttAuthenticator): void;
  /** Publishes a JSON payload from the hub; resolves once the broker has taken it. */
  publish(topic: string, payload: unknown, options?: PublishOptions): Promise<void>;
  /** Tells a device why its payload was refused, on `v1/devices/{id}/errors`. */
  replyError(deviceId: string, ref: ErrorRef, error: unknown): Promise<void>;
  /** The broker's retained message on an exact topic (what a device subscribing now gets). */
  retained(topic: string): Promise<RetainedPacket | undefined>;
  /** Disconnects every session of a device (e.g. when it is disabled). */
  disconnect(deviceId: string): void;
  isConnected(deviceId: string): boolean;
  /** Called when a device's current session starts or ends (a takeover by a newer session is not an end). */
  onPresence(listener: PresenceListener): void;
  listen(): Promise<number>;
  attachWebSocket(server: HttpServer): void;
  readonly port: number;
  readonly listening: boolean;
  close(): Promise<void>;
}

export type PresenceListener = (principal: MqttPrincipal, online: boolean) => void;

export interface ErrorRef {
  topic: string;
  eventId?: string;
  commandId?: string;
}

interface Deps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The message bus and persistence shared with the other instances (cluster.ts); none: this instance is alone. */
  cluster?: BrokerCluster;
}

const REQUESTED_ID = Symbol('requestedClientId');
/** After the bus is back, sessions are checked again this much later, for records written meanwhile. */
const OWNER_RECHECK_MS = 2000;
type TrackedClient = Client & { [REQUESTED_ID]?: string };

export async function createMqttTransport({ config, logger, metrics, cluster }: Deps): Promise<MqttTransport> {
  const log = logger.child({ component: 'mqtt' });
  const router = new MqttRouter();
  const principals = new WeakMap<Client, MqttPrincipal>();
  /** Inbound work still storing data: close() waits for it. */
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  let authenticator: MqttAuthenticator = refuseEveryone;
  const presenceListeners: PresenceListener[] = [];
  const announce = (principal: MqttPrincipal, online: boolean): void => {
    for (const listener of presenceListeners) listener(principal, online);
  };
  const sessions = createSessionTracker(announce);
  let port = 0;
  let tcp: NetServer | undefined;
  let wss: WebSocketServer | undefined;

  const persistence = guardSubscriptionStore(cluster?.persistence ?? persistenceWithRetainedIndex(), { serialise: cluster !== undefined });
  /** The broker once created (Aedes's client table is not in its typings). */
  const created: { broker?: { id: string; clients: Record<string, Client | undefined> } } = {};
  // Registered before Aedes's own listener on the same topic (which closes the session; Aedes adds
  // it once its persistence is set up), so the session is known as moved when its disconnect is
  // announced: mqemitter keeps a topic's listeners in the order they came (Qlobber) and calls
  // them one after the other, synchronously (test/devices/instances.test.ts checks the outcome).
  cluster?.bus.on(`$SYS/+/new/clients`, (packet, done) => {
    const [, brokerId] = packet.topic.split('/');
    const local = created.broker;
    const session = local && brokerId !== local.id ? local.clients[String(packet.payload)] : undefined;
    if (session) sessions.moved(session);
    done();
  });

  const broker = await Aedes.createBroker({
    ...(cluster ? { mq: cluster.bus } : {}),
    persistence,
    connectTimeout: 10_000,
    // Keepalive must be set and at most 20 minutes, so dead devices are noticed.
    keepaliveLimit: 1200,
    maxClientsIdLength: 64,
    heartbeatInterval: 60_000,
    preConnect(client, packet, callback) {
      (client as TrackedClient)[REQUESTED_ID] = packet.clientId;
      callback(null, true);
    },
    authenticate(client, username, password, callback) {
      authenticateClient(client as TrackedClient, username, password).then(
        async (principal) => {
          // Recorded before Aedes announces the session to the other instances (session-owners.ts).
          if (cluster && created.broker) await claimSession(client, cluster, created.broker.id);
          principals.set(client, principal);
          sessions.authenticated(client, principal);
          callback(null, true);
        },
        (error: unknown) => {
          metrics.mqttRejected.inc({ reason: 'connect' });
          const failure = Object.assign(new Error('connection refused'), { returnCode: connackCodeFor(error) });
          callback(failure, false);
        },
      );
    },
    authorizeSubscribe(client, subscription, callback) {
      const principal = principals.get(client);
      if (principal && isWithinOwnNamespace(principal, subscription.topic)) return callback(null, subscription);
      metrics.mqttRejected.inc({ reason: 'subscribe' });
      log.warn({ clientId: client.id }, 'subscription outside own namespace refused');
      // null (not an error) → SUBACK 0x80 and the connection stays up.
      callback(null, null as unknown as Subscription);
    },
    // Defence in depth: whatever its session holds (subscription-store.ts), a device is sent its own topics only.
    authorizeForward(client, packet) {
      return isOwnTopic(client.id, packet.topic) ? packet : null;
    },
    authorizePublish(client, packet, callback) {
      if (!client) return callback(null);
      track(
        routeInbound(client, packet).then(
          () => callback(null),
          (error: unknown) => callback(error as Error),
        ),
      );
    },
  });

  created.broker = broker as unknown as typeof created.broker;

  // A takeover notice this instance missed while its bus was away (session-owners.ts): its sessions
  // recorded as another instance's end as moved, at once and again once late records have landed.
  cluster?.onBusReconnected(() => {
    void endSessionsHeldElsewhere();
    setTimeout(() => void endSessionsHeldElsewhere(), OWNER_RECHECK_MS).unref();
  });

  /** Sessions here whose owner record could not be written: theirs may name another instance, wrongly. */
  const unclaimed = new Set<string>();

  async function claimSession(client: Client, { owners }: BrokerCluster, brokerId: string): Promise<void> {
    if (await owners.claim(client.id, brokerId)) unclaimed.delete(client.id);
    else unclaimed.add(client.id);
    // A session that never gets ready leaves no record naming this instance (a newer one's stays).
    finished(client.conn, () => {
      if (!sessions.wasReady(client)) void owners.release(client.id, brokerId);
    });
  }

  async function endSessionsHeldElsewhere(): Promise<void> {
    const local = created.broker;
    if (!cluster || !local) return;
    const open = Object.values(local.clients).filter((client): client is Client => client !== undefined && !client.closed);
    try {
      // A session whose record could not be written is recorded now, not closed on an older record's word.
      for (const client of open.filter((session) => unclaimed.has(session.id))) await claimSession(client, cluster, local.id);
      const checked = open.filter((client) => !unclaimed.has(client.id));
      const elsewhere = new Set(await cluster.owners.heldElsewhere(checked.map((client) => client.id), local.id));
      for (const client of checked) {
        if (!elsewhere.has(client.id) || client.closed) continue;
        log.info({ clientId: client.id }, 'session held by another instance (its notice was missed); closing it here');
        sessions.moved(client);
        client.close();
      }
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'broker cluster: could not check which sessions moved');
    }
  }

  broker.on('clientReady', (client) => {
    const principal = principals.get(client);
    if (principal) sessions.ready(client, principal);
    metrics.mqttConnections.set(broker.connectedClients);
  });
  broker.on('clientDisconnect', (client) => {
    if (created.broker?.clients[client.id] === undefined) unclaimed.delete(client.id);
    const principal = principals.get(client);
    if (principal) sessions.ended(client, principal);
    metrics.mqttConnections.set(broker.connectedClients);
  });
  broker.on('clientError', (client, error) => log.debug({ clientId: client.id, err: error.message }, 'client error'));
  broker.on('connectionError', (client, error) => log.debug({ clientId: client.id, err: error.message }, 'connection error'));

  async function authenticateClient(
    client: TrackedClient,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<MqttPrincipal> {
    if (!client[REQUESTED_ID]) throw new AppError('validation_failed', 'An MQTT client id is required');
    if (username !== client.id) throw new AppError('validation_failed', 'The client id must equal the username');
    const remoteAddress = (client.conn as Partial<Socket>).remoteAddress;
    return authenticator({ clientId: client.id, username, password, remoteAddress });
  }

  async function routeInbound(client: Client, packet: PublishPacket): Promise<void> {
    const principal = principals.get(client);
    const match = principal && isWithinOwnNamespace(principal, packet.topic) ? router.match(packet.topic) : undefined;
    if (!principal || !match) {
      metrics.mqttRejected.inc({ reason: 'publish' });
      log.warn({ clientId: client.id, topic: packet.topic }, 'publish outside routed own topics refused; disconnecting');
      throw new AppError('forbidden', 'publish not allowed');
    }
    const kind = packet.topic.slice(packet.topic.lastIndexOf('/') + 1);
    metrics.mqttMessages.inc({ direction: 'in', kind });
    const ref: ErrorRef = { topic: packet.topic };
    const settle = (outcome: Promise<unknown>): void => {
      // Handled after the broker moved on: it may yet be refused, so it never becomes a retained value.
      packet.retain = false;
      track(
        outcome.then(
          () => undefined,
          (error: unknown) =>
            refuse(client, principal, packet.topic, ref, error).catch((failure: unknown) => {
              // refuse() rethrows what it does not refuse, logged there; a message that needs no ack has nothing to withhold.
              if (failure !== error) log.error({ err: failure, clientId: client.id }, 'could not tell the device why its message was refused');
            }),
        ),
      );
    };
    try {
      const payload = parsePayload(packet.payload);
      if (payload && typeof payload === 'object') copyRefIds(payload as Record<string, unknown>, ref);
      const value = match.route.schema ? schemas().validate(match.route.schema, payload) : payload;
      const message: InboundMessage = { principal, topic: packet.topic, params: match.params, payload: value, qos: packet.qos, retain: packet.retain, settle };
      await match.route.handle(message);
    } catch (error) {
      // A refused payload must never become the retained value of its topic.
      packet.retain = false;
      await refuse(client, principal, packet.topic, ref, error);
    }
  }

  /**
   * A refusal (4xx) is told to the device on its `errors` topic, and a forbidden one also ends its
   * connection; anything else is rethrown, so that Aedes sends no ack and disconnects the device.
   */
  async function refuse(client: Client, principal: MqttPrincipal, topic: string, ref: ErrorRef, error: unknown): Promise<void> {
    if (error instanceof AppError && error.status < 500) {
      metrics.mqttRejected.inc({ reason: error.code });
      await transport.replyError(principal.deviceId, ref, error);
      // The device may no longer send at all (disabled, e.g. on another instance whose word did not arrive): told why, then let go.
      if (error.code === 'forbidden') {
        log.warn({ clientId: client.id, topic }, 'message refused as forbidden; disconnecting');
        client.close();
      }
      return;
    }
    log.error({ err: error, clientId: client.id, topic }, 'inbound MQTT message failed; not acknowledged');
    throw error;
  }

  function handleConnection(connection: Duplex, request?: IncomingMessage): void {
    const guarded = guardConnection(connection, config.mqtt.maxPacketBytes, (error) => {
      metrics.mqttRejected.inc({ reason: error instanceof PacketTooLargeError ? 'packet_too_large' : 'malformed' });
      log.warn({ err: error.message }, 'MQTT connection dropped by the packet-size guard');
    });
    broker.handle(guarded, request);
  }

  const transport: MqttTransport = {
    router,
    broker,
    get port() {
      return port;
    },
    get listening() {
      return tcp?.listening ?? false;
    },
    setAuthenticator(next) {
      authenticator = next;
    },
    publish(topic, payload, options = {}) {
      const packet = {
        cmd: 'publish',
        topic,
        payload: Buffer.from(JSON.stringify(payload)),
        qos: options.qos ?? 1,
        retain: options.retain ?? false,
        dup: false,
      } as PublishPacket;
      metrics.mqttMessages.inc({ direction: 'out', kind: topic.slice(topic.lastIndexOf('/') + 1) });
      return new Promise((resolve, reject) => broker.publish(packet, (error) => (error ? reject(error) : resolve())));
    },
    async replyError(deviceId, ref, error) {
      const problem = toPublicError(error);
      const body = {
        ref,
        code: DEVICE_ERROR_CODES[problem.code] ?? 'internal',
        message: problem.message.slice(0, 200),
        ...(problem.details ? { details: problem.details.slice(0, 10) } : {}),
        at: new Date().toISOString(),
      };
      await transport.publish(`${deviceNamespace(deviceId)}errors`, body, { qos: 1 });
    },
    async retained(topic) {
      for await (const packet of persistence.createRetainedStream(topic)) return packet as RetainedPacket;
      return undefined;
    },
    disconnect(deviceId) {
      for (const session of sessions.cutOff(deviceId)) session.close();
    },
    isConnected(deviceId) {
      return sessions.isConnected(deviceId);
    },
    onPresence(listener) {
      presenceListeners.push(listener);
    },
    async listen() {
      tcp = createServer({ noDelay: true }, (socket) => handleConnection(socket));
      port = await listenWithFallback(tcp, config, log);
      return port;
    },
    attachWebSocket(server) {
      wss = new WebSocketServer({ noServer: true, maxPayload: config.mqtt.maxPacketBytes });
      server.on('upgrade', (request, socket, head) => {
        if (new URL(request.url ?? '/', 'http://x').pathname !== config.mqtt.wsPath) return;
        wss?.handleUpgrade(request, socket, head, (ws) => handleConnection(createWebSocketStream(ws), request));
      });
    },
    async close() {
      if (tcp) await Promise.race([closeServer(tcp), Promise.resolve()]);
      // Drain: let handlers already storing data finish (and ack) before sessions go.
      await Promise.allSettled([...inFlight]);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      // Then what they handed on (settle) meanwhile: with every client gone, nothing more comes.
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      if (wss) await new Promise<void>((resolve) => wss?.close(() => resolve()));
      if (tcp) await closeServer(tcp);
      await cluster?.close();
    },
  };
  return transport;
}

/**
 * MQTT_PORT unset and 1883 taken (many developer machines run Mosquitto) → take
 * any free port outside production, loudly. An explicit port that is taken is an error.
 */
async function listenWithFallback(server: NetServer, config: Config, log: Logger): Promise<number> {
  try {
    return await listen(server, config.mqtt.port, config.host, 'MQTT_PORT');
  } catch (error) {
    const mayFallBack = !config.mqtt.portExplicit && config.nodeEnv !== 'production';
    if (!mayFallBack || !(error instanceof Error) || error.name !== 'PortInUseError') throw error;
    const port = await listen(server, 0, config.host, 'MQTT_PORT');
    log.warn(
      { wanted: config.mqtt.port, port },
      `MQTT port ${config.mqtt.port} is taken (another broker?); the embedded broker listens on ${port} instead. Set MQTT_PORT to choose.`,
    );
    return port;
  }
}

/** The hub's error codes as schemas/mqtt/error.json names them for devices. */
const DEVICE_ERROR_CODES: Partial<Record<string, string>> = {
  invalid_json: 'invalid_json',
  validation_failed: 'schema_violation',
  payload_too_large: 'payload_too_large',
  rate_limited: 'rate_limited',
  forbidden: 'forbidden_topic',
  not_found: 'unknown_command',
};

function parsePayload(payload: Buffer | string): unknown {
  try {
    return JSON.parse(payload.toString());
  } catch {
    throw new AppError('invalid_json', 'The payload is not valid JSON');
  }
}

function copyRefIds(payload: Record<string, unknown>, ref: ErrorRef): void {
  if (typeof payload.eventId === 'string') ref.eventId = payload.eventId.slice(0, 128);
  if (typeof payload.commandId === 'string') ref.commandId = payload.commandId.slice(0, 128);
}

export type { AedesPublishPacket };
export { CONNACK };
