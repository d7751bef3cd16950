/**
 * Which instance holds each device's session, recorded in Redis by the clustered brokers.
 *
 * Aedes tells the other instances of a new session with one pub/sub message
 * (`$SYS/<broker>/new/clients`), and each closes its own older session of that client. Redis
 * keeps no pub/sub message for a subscriber that is away: an instance whose bus connection was
 * down at that moment never hears of it, and keeps the older session open, possibly for ever (a
 * device whose old connection still answers pings). So each instance also records the sessions
 * it accepts, before Aedes announces them, and once its bus is back closes those of its sessions
 * recorded as another instance's.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';

/**
 * An owner is kept this long after its session began: the record matters only to an instance
 * whose bus came back, and a session older than this is left alone if the record is gone.
 */
const OWNER_TTL_SECONDS = 7 * 24 * 3600;
/** Client ids read per MGET when an instance checks all its sessions. */
const READ_BATCH = 1000;

export interface SessionOwners {
  /** Records that `brokerId` holds the session of `clientId` from now on; false when it could not. */
  claim(clientId: string, brokerId: string): Promise<boolean>;
  /** Forgets the record if it still names `brokerId` (its session never got ready). */
  release(clientId: string, brokerId: string): Promise<void>;
  /** Those of `clientIds` whose session is recorded as another instance's than `brokerId`. */
  heldElsewhere(clientIds: string[], brokerId: string): Promise<string[]>;
}

const ownerKey = (clientId: string): string => `owner:${clientId}`;

/** Deletes the key only while it holds ARGV[1]: another instance's newer claim stays. */
const RELEASE_IF_OWNER = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** `redis` carries the cluster's key prefix. */
export function createSessionOwners(redis: Redis, log: Logger): SessionOwners {
  return {
    async claim(clientId, brokerId) {
      try {
        await redis.set(ownerKey(clientId), brokerId, 'EX', OWNER_TTL_SECONDS);
        return true;
      } catch (error) {
        // Not a reason to refuse the device: only a lost takeover notice would go unnoticed.
        log.warn({ err: (error as Error).message, clientId }, 'broker cluster: session owner not recorded');
        return false;
      }
    },
    async release(clientId, brokerId) {
      await redis.eval(RELEASE_IF_OWNER, 1, ownerKey(clientId), brokerId).catch((error: unknown) => {
        log.warn({ err: (error as Error).message, clientId }, 'broker cluster: session owner not released');
      });
    },
    async heldElsewhere(clientIds, brokerId) {
      const elsewhere: string[] = [];
      for (let start = 0; start < clientIds.length; start += READ_BATCH) {
        const batch = clientIds.slice(start, start + READ_BATCH);
        const owners = await redis.mget(batch.map(ownerKey));
        batch.forEach((clientId, i) => {
          const owner = owners[i];
          if (owner && owner !== brokerId) elsewhere.push(clientId);
        });
      }
      return elsewhere;
    },
  };
}
