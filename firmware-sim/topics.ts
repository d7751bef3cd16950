/**
 * The MQTT topic tree of one device (ARCHITECTURE.md §3), with the delivery
 * rules of each topic. The simulator publishes with exactly these QoS/retain
 * flags, and scripts/gen-topics-doc.ts renders docs/TOPICS.md from this table
 * plus the schemas, so the three cannot drift apart.
 */
export type TopicName = 'heartbeat' | 'events' | 'status' | 'acks' | 'schedule' | 'commands' | 'errors';

export interface TopicContract {
  name: TopicName;
  direction: 'device → hub' | 'hub → device';
  qos: 0 | 1;
  retained: boolean;
  /** File in schemas/mqtt/ that defines the payload. */
  schema: string;
  publisher: string;
  subscriber: string;
  summary: string;
}

export const TOPIC_PREFIX = 'v1/devices';

export const TOPICS: readonly TopicContract[] = [
  {
    name: 'heartbeat',
    direction: 'device → hub',
    qos: 0,
    retained: false,
    schema: 'heartbeat.json',
    publisher: 'the device',
    subscriber: 'the hub',
    summary: 'Health every N seconds: battery, signal, firmware, uptime, slot fill levels, applied schedule version.',
  },
  {
    name: 'events',
    direction: 'device → hub',
    qos: 1,
    retained: false,
    schema: 'event.json',
    publisher: 'the device',
    subscriber: 'the hub',
    summary: 'Dose and device events; stored once per (deviceId, eventId), PUBACKed only once stored.',
  },
  {
    name: 'status',
    direction: 'device → hub',
    qos: 1,
    retained: true,
    schema: 'status.json',
    publisher: 'the device (online), the broker on its behalf (Last Will)',
    subscriber: 'the hub',
    summary: '`online` once subscribed after every CONNECT; `offline` as Last Will or before a clean disconnect.',
  },
  {
    name: 'acks',
    direction: 'device → hub',
    qos: 1,
    retained: false,
    schema: 'ack.json',
    publisher: 'the device',
    subscriber: 'the hub',
    summary: 'The outcome of a command, by commandId.',
  },
  {
    name: 'schedule',
    direction: 'hub → device',
    qos: 1,
    retained: true,
    schema: 'schedule.json',
    publisher: 'the hub',
    subscriber: 'the device',
    summary: 'The desired schedule: expanded doses over a rolling horizon, with a version.',
  },
  {
    name: 'commands',
    direction: 'hub → device',
    qos: 1,
    retained: false,
    schema: 'command.json',
    publisher: 'the hub',
    subscriber: 'the device',
    summary: 'Do something now; queued in the persistent session while offline, ignored after expiresAt.',
  },
  {
    name: 'errors',
    direction: 'hub → device',
    qos: 1,
    retained: false,
    schema: 'error.json',
    publisher: 'the hub',
    subscriber: 'the device',
    summary: 'Why the hub refused a message the device published.',
  },
];

export function topicContract(name: TopicName): TopicContract {
  const contract = TOPICS.find((topic) => topic.name === name);
  if (!contract) throw new Error(`unknown topic ${name}`);
  return contract;
}

export const deviceTopic = (deviceId: string, name: TopicName): string => `${TOPIC_PREFIX}/${deviceId}/${name}`;

/** `v1/devices/{id}/events` → `events`; undefined for anything outside the tree. */
export function topicNameOf(topic: string): TopicName | undefined {
  const levels = topic.split('/');
  if (levels.length !== 4 || `${levels[0]}/${levels[1]}` !== TOPIC_PREFIX) return undefined;
  return TOPICS.find((contract) => contract.name === levels[3])?.name;
}
