/**
 * One simulated pill dispenser: the device side of the wire contract in
 * schemas/mqtt, over a real MQTT connection.
 *
 * Lifecycle of a connection (docs/TOPICS.md, "Order after CONNACK"): CONNECT
 * (clean session off, Last Will = retained `offline`) → subscribe to schedule,
 * commands, errors → on SUBACK, retained `online` → heartbeat → drain the
 * outbox (device.reboot, once per boot, joins it after that first heartbeat).
 * Until `online` is out the device publishes nothing: a command the broker
 * kept in the session is carried out, but its ack waits in the outbox. When
 * the connection drops, the client is thrown away (as a firmware would reset
 * its network stack) and a new one connects after a jittered backoff, which
 * starts over only once a connection has stayed up for a while (a hub that
 * accepts and then drops every connection is not hammered); whatever the old
 * one had in flight is resent from the outbox with the same eventId.
 *
 * Doses run on the device clock (simulated time plus skew), and the schedule,
 * what was done with its doses and the slot levels are kept next to the
 * outbox, so a restarted simulator carries on where it stopped.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { AckLog } from './ack-log.js';
import { Agenda } from './agenda.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { createSimClock, isoInstant, type SimClock } from './clock.js';
import { CommandHandler, type CommandResult } from './commands.js';
import { DeviceStateFile, stateFileFor } from './device-state.js';
import { DoseTracker } from './doses.js';
import { Slots, Vitals, type SlotsOptions } from './hardware.js';
import { parseJson, readError, readSchedule } from './inbound.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import type {
  CommandAck,
  DeviceError,
  DeviceEvent,
  DeviceHeartbeat,
  DeviceSchedule,
  EventDraft,
  OfflineStatus,
  OnlineStatus,
} from './payloads.js';
import { deviceSeed, seededRandom, type Random } from './random.js';
import { createScenario, type Scenario, type ScenarioName, type ScenarioOptions } from './scenarios.js';
import { deviceTopic, topicContract, topicNameOf, type TopicName } from './topics.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;
const silent: Logger = () => {};

export interface DispenserOptions {
  /** Device id: MQTT client id and username. */
  id: string;
  /** MQTT password; leave out for a broker that allows anonymous clients. */
  secret?: string;
  /** Broker URL: mqtt://host:1883, mqtts://…, ws://host/path. */
  url: string;
  clock?: SimClock;
  scenario?: Scenario | ScenarioName;
  scenarioOptions?: ScenarioOptions;
  /** Seed for this device's random choices (default: derived from the id). */
  seed?: number;
  /** Real seconds between heartbeats. */
  heartbeatSeconds?: number;
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  firmwareVersion?: string;
  slots?: SlotsOptions;
  /** Outbox bound, and a file to persist it to. */
  outbox?: { capacity?: number; file?: string };
  /**
   * A file to keep the applied schedule, what was done with its doses and the slot
   * levels in, across restarts. Defaults to `<outbox file>.state.json` next to a
   * persisted outbox; in memory only without either.
   */
  stateFile?: string;
  /** QoS 1 messages in flight at once on one connection. */
  maxInflight?: number;
  /** Ack log shared with other devices (a fleet's). */
  ackLog?: AckLog;
  /** Or a JSONL ack log of this device's own. */
  ackLogPath?: string;
  /** How many acknowledged eventIds acknowledgedEventIds() remembers (the ack log keeps all). */
  ackHistoryLimit?: number;
  /** Reconnect delays; `resetAfterMs`: how long (real ms) a connection must stay up before they start over. */
  backoff?: BackoffOptions;
  /** Device clock minus simulated time, to play a drifting clock; sync_time resets it. */
  clockSkewMs?: number;
  logger?: Logger;
}

export interface DispenserStats {
  id: string;
  connected: boolean;
  connects: number;
  /** Attempts that ended before a CONNACK: refused, timed out, unreachable. */
  connectFailures: number;
  disconnects: number;
  eventsQueued: number;
  eventsAcked: number;
  acksQueued: number;
  acksDelivered: number;
  heartbeats: number;
  hubErrors: number;
  outboxSize: number;
  outboxDropped: number;
  appliedScheduleVersion: number;
}

export interface DispenserEvents {
  connected: [connectionId: string];
  disconnected: [];
  /** Every payload handed to the broker (status, heartbeat, event, ack). */
  published: [topic: string, payload: unknown];
  queued: [event: DeviceEvent];
  acked: [entry: { id: string; kind: OutboxEntry['kind']; label: string }];
  'schedule-applied': [version: number];
  command: [result: CommandResult];
  'hub-error': [error: DeviceError];
}

const MAX_UPTIME_SECONDS = 4294967295;
/** How long a clean shutdown waits for the broker to take the `offline` status. */
const GOODBYE_TIMEOUT_MS = 2000;

export class SimulatedDispenser extends EventEmitter<DispenserEvents> {
  readonly id: string;
  readonly clock: SimClock;
  private readonly options: DispenserOptions;
  private readonly log: Logger;
  private readonly random: Random;
  private readonly agenda: Agenda;
  private readonly backoff: Backoff;
  private readonly outbox: Outbox;
  private readonly slots: Slots;
  private readonly vitals: Vitals;
  private readonly doses: DoseTracker;
  private readonly commands: CommandHandler;
  private readonly ackLog: AckLog | undefined;
  private readonly ownsAckLog: boolean;
  private readonly acknowledged = new Set<string>();
  private readonly rejected = new Set<string>();
  private readonly maxInflight: number;
  /** Simulated time plus skew: what doses run on and events are stamped with. */
  private readonly deviceClock: SimClock;
  private readonly state: DeviceStateFile;
  /** The schedule the device follows (the one `applied` names). */
  private schedule: DeviceSchedule | null = null;

  private client: MqttClient | undefined;
  /** Announced in `online` and in the Last Will, so the hub can match the two. */
  private connectionId = '';
  private connected = false;
  /** SUBACK in and `online` published on this connection: from now on the device may publish. */
  private ready = false;
  /** Resets the backoff once the connection has stayed up long enough. */
  private stableTimer: NodeJS.Timeout | undefined;
  /** Bumped per connection attempt, so callbacks of a dead client are ignored. */
  private generation = 0;
  private started = false;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Device-clock instant a simulated network outage ends. */
  private offlineUntil = 0;
  private bootAt = 0;
  private bootReason: 'power_on' | 'command' = 'power_on';
  private bootAnnounced = false;
  private skewMs: number;
  private applied = 0;
  private readonly counters = { connects: 0, connectFailures: 0, disconnects: 0, eventsQueued: 0, eventsAcked: 0, acksQueued: 0, acksDelivered: 0, heartbeats: 0, hubErrors: 0 };

  constructor(options: DispenserOptions) {
    super();
    this.options = options;
    this.id = options.id;
    this.clock = options.clock ?? createSimClock();
    this.log = options.logger ?? silent;
    const seed = options.seed ?? deviceSeed(0, options.id);
    // Two streams: the patient's choices stay reproducible however many
    // heartbeats or reconnects (which draw noise) happened in between.
    this.random = seededRandom(seed);
    const noise = seededRandom(seed ^ 0x9e3779b9);
    this.deviceClock = { speed: this.clock.speed, now: () => this.deviceNow() };
    this.agenda = new Agenda(this.deviceClock, (error) => this.log('error', 'scheduled task failed', { deviceId: this.id, err: String(error) }));
    this.backoff = new Backoff({ random: noise, ...options.backoff });
    this.outbox = new Outbox(options.outbox);
    this.maxInflight = options.maxInflight ?? 16;
    this.slots = new Slots(options.slots);
    this.vitals = new Vitals(noise);
    this.skewMs = options.clockSkewMs ?? 0;
    const scenario = options.scenario ?? 'adherent';
    this.doses = new DoseTracker({
      clock: this.deviceClock,
      agenda: this.agenda,
      random: this.random,
      scenario: typeof scenario === 'string' ? createScenario(scenario, options.scenarioOptions) : scenario,
      slots: this.slots,
      emit: (event, at) => this.queueEvent(event, at),
      goOffline: (durationMs) => this.goOffline(durationMs),
      changed: () => this.saveState(),
    });
    const stateFile = options.stateFile ?? (options.outbox?.file ? stateFileFor(options.outbox.file) : undefined);
    this.state = new DeviceStateFile(stateFile, () => ({ schedule: this.schedule, doses: this.doses.records(), slots: this.slots.levels(), commands: this.commands.remembered() }));
    this.commands = new CommandHandler({
      deviceNow: () => this.deviceNow(),
      doses: this.doses,
      setClock: (serverTime) => this.setClock(serverTime),
      signal: (kind, seconds) => this.log('info', `${kind} for ${seconds} s`, { deviceId: this.id }),
      reboot: (delaySeconds) => this.agenda.at(this.deviceNow() + delaySeconds * 1000, () => this.reboot()),
      changed: () => this.state.changed(),
      canAct: () => !this.stopped,
    });
    this.ownsAckLog = !options.ackLog && options.ackLogPath !== undefined;
    this.ackLog = options.ackLog ?? (options.ackLogPath ? new AckLog(options.ackLogPath) : undefined);
  }

  // ── lifecycle ────────────────────────────────────────────────────────────

  /** Loads the outbox and the saved state, boots and starts connecting; resolves before the connection is up. */
  async start(): Promise<void> {
    if (this.started) throw new Error(`${this.id} already started`);
    this.started = true;
    await this.outbox.load();
    const saved = await this.state.load();
    this.bootAt = this.clock.now();
    if (saved) {
      this.slots.restore(saved.slots);
      this.commands.restore(saved.commands);
      if (saved.schedule) {
        // Follow the schedule applied before the restart, knowing what was done with its doses.
        this.schedule = saved.schedule;
        this.applied = saved.schedule.version;
        this.doses.restore(saved.schedule, saved.doses);
        this.log('info', 'saved schedule restored', { deviceId: this.id, version: this.applied, doses: saved.doses.length });
      }
    }
    // A referenced timer: a started device keeps the process alive, like its socket would.
    this.heartbeatTimer = setInterval(() => this.heartbeat(), (this.options.heartbeatSeconds ?? 60) * 1000);
    this.connect();
  }

  /**
   * Stops the device. By default it says goodbye (retained `offline`, reason
   * `shutdown`) and disconnects cleanly; `{ graceful: false }` drops the socket
   * like a power cut, so the broker publishes the Last Will.
   */
  async stop({ graceful = true }: { graceful?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.stableTimer);
    this.agenda.clear();
    await this.state.close(); // what the device did is saved before it forgets its doses
    this.doses.clear();
    await this.disconnect(graceful ? 'shutdown' : undefined);
    await this.outbox.flush();
    if (this.ownsAckLog) await this.ackLog?.close();
  }

  // ── what a test or a demo can observe ────────────────────────────────────

  get isConnected(): boolean {
    return this.connected;
  }

  get appliedScheduleVersion(): number {
    return this.applied;
  }

  /** eventIds whose PUBACK arrived, oldest first (the last ackHistoryLimit of them). */
  acknowledgedEventIds(): string[] {
    return [...this.acknowledged];
  }

  /** eventIds the hub answered with an error. */
  rejectedEventIds(): string[] {
    return [...this.rejected];
  }

  /** eventIds still waiting for a PUBACK. */
  pendingEventIds(): string[] {
    return this.outbox.ids('event');
  }

  stats(): DispenserStats {
    return {
      id: this.id,
      connected: this.connected,
      ...this.counters,
      outboxSize: this.outbox.size,
      outboxDropped: this.outbox.dropped,
      appliedScheduleVersion: this.applied,
    };
  }

  /** Device clock (simulated time plus skew), epoch ms. */
  deviceNow(): number {
    return this.clock.now() + this.skewMs;
  }

  // ── the patient and the hardware ─────────────────────────────────────────

  pressHelp(): void {
    this.queueEvent({ type: 'help.requested' });
  }

  /** Dispenses the next dose early, if its early window is open. */
  pressDispense(): boolean {
    return this.doses.dispenseEarly();
  }

  /** Skips the dose waiting in the tray, if any. */
  pressSkip(): boolean {
    return this.doses.skipWaiting();
  }

  tamper(sensor: 'lid_open' | 'case_open' | 'tilt'): void {
    this.queueEvent({ type: 'device.tamper', sensor });
  }

  refill(slot: number, pills: number): void {
    this.slots.refill(slot, pills);
    this.saveState(); // a restart must not bring the empty slot back
  }

  /**
   * Loses the network for a simulated duration: the socket drops without a
   * DISCONNECT (the broker publishes the Last Will) and events pile up in the
   * outbox until the device reconnects.
   */
  goOffline(simDurationMs: number): void {
    this.offlineUntil = Math.max(this.offlineUntil, this.deviceNow() + simDurationMs);
    this.log('info', 'network lost', { deviceId: this.id, forSimMs: Math.round(simDurationMs) });
    this.client?.stream.destroy();
    this.agenda.at(this.offlineUntil, () => this.connect());
  }

  // ── connection ───────────────────────────────────────────────────────────

  private connect(): void {
    if (this.stopped || this.client || this.deviceNow() < this.offlineUntil) return;
    clearTimeout(this.reconnectTimer);
    const generation = ++this.generation;
    const connectionId = randomUUID();
    this.connectionId = connectionId;
    const will: OfflineStatus = { state: 'offline', connectionId, reason: 'connection_lost' };
    const status = topicContract('status');
    const client = mqtt.connect(this.options.url, {
      protocolVersion: 4, // Aedes speaks MQTT 3.1.1 only
      clientId: this.id,
      username: this.id,
      ...(this.options.secret !== undefined ? { password: this.options.secret } : {}),
      clean: false, // keep subscriptions, and commands queued while offline
      reconnectPeriod: 0, // reconnection is ours: jittered backoff, fresh client
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      keepalive: this.options.keepaliveSeconds ?? 60,
      will: { topic: deviceTopic(this.id, 'status'), payload: Buffer.from(JSON.stringify(will)), qos: status.qos, retain: status.retained },
    });
    this.client = client;
    client.on('connect', () => this.onConnect(generation, connectionId));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    // Connection errors are expected in a fleet (broker restarts, overload); they are
    // counted and retried, and logged at debug so ten thousand devices do not flood the terminal.
    client.on('error', (error) => this.log('debug', 'mqtt error', { deviceId: this.id, err: error.message }));
    client.on('close', () => this.onClose(generation));
  }

  private onConnect(generation: number, connectionId: string): void {
    if (generation !== this.generation || this.stopped) return;
    this.connected = true;
    this.counters.connects++;
    // The backoff is not reset here: a hub that accepts the connection and drops it
    // again (its store is down) would otherwise get a new CONNECT every second, forever.
    // Subscribe first and announce `online` only once the SUBACK is in: from then on
    // a command the hub sends reaches the device (or waits in its persistent session).
    const subscriptions = (['schedule', 'commands', 'errors'] as const).map((name) => deviceTopic(this.id, name));
    this.client?.subscribe(subscriptions, { qos: 1 }, (error) => {
      if (generation !== this.generation) return;
      if (error) this.log('warn', 'subscribe failed', { deviceId: this.id, err: error.message });
      this.announce(generation, connectionId);
    });
  }

  /** After the SUBACK, in the contract's order: `online`, a heartbeat, then the outbox. */
  private announce(generation: number, connectionId: string): void {
    const online: OnlineStatus = { state: 'online', connectionId, at: isoInstant(this.deviceNow()), firmwareVersion: this.firmwareVersion };
    this.publish('status', online);
    this.ready = true;
    this.heartbeat();
    if (!this.bootAnnounced) {
      this.bootAnnounced = true;
      this.queueEvent({ type: 'device.reboot', reason: this.bootReason, firmwareVersion: this.firmwareVersion }, this.bootAt + this.skewMs);
    }
    this.pump();
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      if (generation === this.generation && this.ready) this.backoff.reset();
    }, this.backoff.resetAfterMs);
    this.stableTimer.unref();
    this.log('debug', 'connected', { deviceId: this.id, connectionId });
    this.emit('connected', connectionId);
  }

  private onClose(generation: number): void {
    if (generation !== this.generation || !this.client) return;
    const client = this.client;
    this.client = undefined;
    this.ready = false;
    clearTimeout(this.stableTimer);
    if (this.connected) {
      this.connected = false;
      this.counters.disconnects++;
      this.emit('disconnected');
    } else {
      this.counters.connectFailures++;
    }
    this.outbox.releaseInflight();
    client.removeAllListeners('close');
    client.end(true);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    // During a simulated outage the agenda reconnects at its end.
    if (this.deviceNow() < this.offlineUntil) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Ends the current connection; with a reason, first publishes `offline` and sends DISCONNECT. */
  private async disconnect(reason?: OfflineStatus['reason']): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.generation++; // the coming close is ours, not a failure to recover from
    this.client = undefined;
    this.connected = false;
    this.ready = false;
    clearTimeout(this.stableTimer);
    this.outbox.releaseInflight();
    if (!reason || !client.connected) {
      client.end(true);
      return;
    }
    const goodbye: OfflineStatus = { state: 'offline', connectionId: this.connectionId, reason, at: isoInstant(this.deviceNow()) };
    const said = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), GOODBYE_TIMEOUT_MS);
      this.publishWith(client, 'status', goodbye, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!said) {
      // The broker is not answering: cut the line (its Will will speak for us).
      client.end(true);
      return;
    }
    // MQTT.js sends DISCONNECT only once nothing is in flight; our unacknowledged
    // events stay in the outbox anyway, so let go of them here rather than wait.
    for (const messageId of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(messageId));
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }

  /** A reboot command: clean goodbye, new boot, reconnect, announce device.reboot. */
  private reboot(): void {
    this.log('info', 'rebooting', { deviceId: this.id });
    void this.disconnect('reboot').then(() => {
      this.bootAt = this.clock.now();
      this.bootReason = 'command';
      this.bootAnnounced = false;
      this.backoff.reset(); // a fresh boot starts its backoff over
      this.scheduleReconnect();
    });
  }

  private setClock(serverTime: string): void {
    this.skewMs = Date.parse(serverTime) - this.clock.now();
    this.agenda.refresh(); // doses run on the device clock, which just jumped
  }

  // ── inbound ──────────────────────────────────────────────────────────────

  private onMessage(topic: string, payload: Buffer): void {
    switch (topicNameOf(topic)) {
      case 'schedule':
        return this.onSchedule(payload);
      case 'commands':
        return this.onCommand(payload);
      case 'errors':
        return this.onHubError(payload);
      default:
        this.log('warn', 'message on an unexpected topic', { deviceId: this.id, topic });
    }
  }

  private onSchedule(payload: Buffer): void {
    // A zero-length retained payload only clears the broker's copy; keep following what we have.
    if (payload.length === 0) return;
    const schedule = readSchedule(parseJson(payload));
    if (!schedule) {
      this.log('warn', 'unreadable schedule ignored', { deviceId: this.id });
      return;
    }
    if (schedule.version <= this.applied) return;
    this.schedule = schedule;
    this.applied = schedule.version;
    this.doses.apply(schedule); // and saves the new state
    this.log('info', 'schedule applied', { deviceId: this.id, version: schedule.version, items: schedule.items.length });
    this.emit('schedule-applied', schedule.version);
    this.heartbeat(); // tell the hub right away rather than at the next beat (or with the one after `online`)
  }

  private onCommand(payload: Buffer): void {
    // Stopping: left for the hub, which sends pending commands again when the device reconnects.
    if (this.stopped) return;
    this.commands.handle(parseJson(payload)).then(
      (result) => {
        if (!result) {
          this.log('warn', 'command without a usable commandId ignored', { deviceId: this.id });
          return;
        }
        // Stopped meanwhile: its outcome may not be saved, so no ack that a restart could contradict.
        if (this.stopped) return;
        this.queueAck(result.ack);
        result.afterAck?.();
        this.emit('command', result);
      },
      // The note saved before acting, or the outcome, could not be saved (or the device is stopping):
      // no ack, and the hub sends it again when the device reconnects.
      (error: unknown) => this.log(this.stopped ? 'info' : 'error', 'command not carried out', { deviceId: this.id, err: String(error) }),
    );
  }

  /** Saves the device state soon; a failed write is logged (the next change writes again). */
  private saveState(): void {
    this.state.changed().catch((error: unknown) => this.log('error', 'device state not saved', { deviceId: this.id, err: String(error) }));
  }

  private onHubError(payload: Buffer): void {
    const error = readError(parseJson(payload));
    if (!error) return;
    this.counters.hubErrors++;
    if (error.ref.eventId) remember(this.rejected, error.ref.eventId, this.options.ackHistoryLimit ?? 10_000);
    this.log('warn', 'hub refused a message', { deviceId: this.id, code: error.code, topic: error.ref.topic, message: error.message });
    this.emit('hub-error', error);
  }

  // ── outbound ─────────────────────────────────────────────────────────────

  private get firmwareVersion(): string {
    return this.options.firmwareVersion ?? '1.4.2';
  }

  private heartbeat(): void {
    if (!this.ready) return; // QoS 0 and stateless: a missed beat is simply not sent
    const uptimeMs = Math.max(0, this.clock.now() - this.bootAt);
    const beat: DeviceHeartbeat = {
      at: isoInstant(this.deviceNow()),
      batteryPercent: this.vitals.batteryPercent(uptimeMs),
      rssiDbm: this.vitals.rssiDbm(),
      firmwareVersion: this.firmwareVersion,
      uptimeSeconds: Math.min(MAX_UPTIME_SECONDS, Math.floor(uptimeMs / 1000)),
      appliedScheduleVersion: this.applied,
      slots: this.slots.levels(),
    };
    this.counters.heartbeats++;
    this.publish('heartbeat', beat);
  }

  /** Queues an event that happened at `at` (device clock; now by default). */
  private queueEvent(draft: EventDraft, at = this.deviceNow()): void {
    // Field order as in the schema: id, type and time first, for readable logs.
    const { type, ...fields } = draft;
    const event = { eventId: randomUUID(), type, at: isoInstant(at), ...fields } as DeviceEvent;
    const topic = deviceTopic(this.id, 'events');
    this.outbox.add({ id: event.eventId, kind: 'event', label: event.type, topic, payload: JSON.stringify(event), queuedAt: Date.now() });
    this.counters.eventsQueued++;
    this.emit('queued', event);
    this.pump();
  }

  private queueAck(ack: CommandAck): void {
    const topic = deviceTopic(this.id, 'acks');
    this.outbox.add({ id: `ack:${ack.commandId}`, kind: 'ack', label: ack.status, topic, payload: JSON.stringify(ack), queuedAt: Date.now() });
    this.counters.acksQueued++;
    this.pump();
  }

  /** Hands waiting outbox messages to the connection, at most maxInflight unacknowledged at once; nothing before `online`. */
  private pump(): void {
    const client = this.client;
    if (!client || !this.ready) return;
    const generation = this.generation;
    while (this.outbox.inflightCount < this.maxInflight) {
      const entry = this.outbox.nextWaiting();
      if (!entry) return;
      this.outbox.markInflight(entry);
      if (this.listenerCount('published') > 0) this.emit('published', entry.topic, JSON.parse(entry.payload));
      client.publish(entry.topic, entry.payload, { qos: 1 }, (error) => {
        if (generation !== this.generation) return; // that connection is gone; the entry waits for the next
        if (error) {
          this.outbox.release(entry.id);
          return;
        }
        this.delivered(entry);
        this.pump();
      });
    }
  }

  private delivered(entry: OutboxEntry): void {
    this.outbox.remove(entry.id);
    if (entry.kind === 'ack') {
      this.counters.acksDelivered++;
    } else {
      this.counters.eventsAcked++;
      remember(this.acknowledged, entry.id, this.options.ackHistoryLimit ?? 10_000);
      this.ackLog?.record({ deviceId: this.id, eventId: entry.id, type: entry.label, ackedAt: new Date().toISOString() });
    }
    this.emit('acked', { id: entry.id, kind: entry.kind, label: entry.label });
  }

  private publish(name: TopicName, payload: object): void {
    if (this.client) this.publishWith(this.client, name, payload);
  }

  private publishWith(client: MqttClient, name: TopicName, payload: object, done?: () => void): void {
    const { qos, retained } = topicContract(name);
    const topic = deviceTopic(this.id, name);
    if (this.listenerCount('published') > 0) this.emit('published', topic, payload);
    client.publish(topic, JSON.stringify(payload), { qos, retain: retained }, () => done?.());
  }
}

/** Adds to an insertion-ordered set, forgetting the oldest beyond the limit. */
function remember(set: Set<string>, value: string, limit: number): void {
  set.add(value);
  if (set.size > limit) set.delete(set.values().next().value as string);
}
