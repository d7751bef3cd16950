/**
 * Aedes's in-memory persistence finds the retained messages for a new
 * subscription by testing every retained topic against it. Each device has
 * retained messages (its schedule, its status), so with 10,000 devices every
 * subscription scans 20,000 topics and connects slow to a crawl. Devices
 * subscribe to exact topics, so this index answers those with one map lookup
 * and leaves wildcard subscriptions to the original scan.
 */
import { Readable } from 'node:stream';
import memoryPersistence from 'aedes-persistence';

export interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

/** What the hub uses of an Aedes persistence (Aedes takes the whole object). */
export interface Persistence {
  storeRetained(packet: RetainedPacket, cb?: (error?: Error | null) => void): unknown;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

// The package is CommonJS: under NodeNext its default import is the factory itself, whatever its typings say.
const createMemoryPersistence = memoryPersistence as unknown as () => Persistence;

const hasWildcard = (pattern: string): boolean => pattern.includes('+') || pattern.includes('#');

export function persistenceWithRetainedIndex(): Persistence {
  const persistence = createMemoryPersistence();
  const byTopic = new Map<string, RetainedPacket>();
  const storeRetained = persistence.storeRetained.bind(persistence);
  const scanCombi = persistence.createRetainedStreamCombi.bind(persistence);
  const scan = persistence.createRetainedStream.bind(persistence);

  persistence.storeRetained = (packet, cb) => {
    // Same rule as the store it mirrors: an empty payload clears the topic's retained message.
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return storeRetained(packet, cb);
  };
  persistence.createRetainedStreamCombi = (patterns) => {
    if (patterns.some(hasWildcard)) return scanCombi(patterns);
    return Readable.from(patterns.flatMap((pattern) => byTopic.get(pattern) ?? []));
  };
  persistence.createRetainedStream = (pattern) => (hasWildcard(pattern) ? scan(pattern) : Readable.from(byTopic.has(pattern) ? [byTopic.get(pattern)] : []));
  return persistence;
}
