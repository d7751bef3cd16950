/**
 * What the broker's persistence keeps of a device's subscriptions (clean: false sessions).
 *
 *  - **Its own topics only.** Aedes stores a SUBSCRIBE's whole list even when authorizeSubscribe
 *    refused some of its topics (0x80 in the SUBACK): a device asking for its own topic and another
 *    device's was refused the other, but had it restored on its next connection, and got that
 *    device's queued commands. What is stored is filtered to the device's namespace.
 *  - **One change at a time (clustered).** aedes-persistence's broadcast (used by
 *    aedes-persistence-redis) waits for each change by client id and first topic, one waiter per
 *    key, while Aedes calls addSubscriptions once per topic of a SUBSCRIBE, each time with the
 *    packet's whole list: with two topics or more, the second call replaced the first one's waiter,
 *    which never resolved, and the device never got its SUBACK. So the calls for one packet are one
 *    call, and one client's changes run one after the other. A change whose broadcast was lost (the
 *    bus away) never settles: the next one waits for it CHANGE_WAIT_MS at most.
 */
import { settledWithin } from '../../settled-within.js';
import { isOwnTopic } from './policy.js';
import type { Persistence } from './retained-index.js';

/** How long a client's subscription change waits for its previous one. */
const CHANGE_WAIT_MS = 10_000;

type SubscriptionChange = (client: { id: string }, subscriptions: unknown[]) => Promise<unknown>;
type SubscriptionStore = Persistence & { addSubscriptions: SubscriptionChange; removeSubscriptions: SubscriptionChange };

const topicOf = (subscription: unknown): string => String((subscription as { topic?: unknown } | null)?.topic ?? '');

export function guardSubscriptionStore(persistence: Persistence, { serialise }: { serialise: boolean }): Persistence {
  const store = persistence as SubscriptionStore;
  const add = store.addSubscriptions.bind(store);
  const remove = store.removeSubscriptions.bind(store);
  // Per packet (Aedes passes the same array for each of its topics): one filtered array, one call.
  const ownOf = new WeakMap<unknown[], unknown[]>();
  const ownSubscriptions = (client: { id: string }, subscriptions: unknown[]): unknown[] => {
    let own = ownOf.get(subscriptions);
    if (!own) {
      own = subscriptions.filter((subscription) => isOwnTopic(client.id, topicOf(subscription)));
      ownOf.set(subscriptions, own);
    }
    return own;
  };
  const addOwn: SubscriptionChange = (client, subscriptions) => {
    const own = ownSubscriptions(client, subscriptions);
    return own.length > 0 ? add(client, own) : Promise.resolve(client);
  };
  if (!serialise) {
    store.addSubscriptions = addOwn;
    return store;
  }
  const oneAtATime = createClientQueue();
  store.addSubscriptions = (client, subscriptions) => oneAtATime(client, ownSubscriptions(client, subscriptions), addOwn.bind(null, client, subscriptions));
  store.removeSubscriptions = (client, topics) => oneAtATime(client, topics, () => remove(client, topics));
  return store;
}

/** Runs each client's changes one after the other; the calls for one packet (same array) are one. */
function createClientQueue() {
  const byPacket = new WeakMap<unknown[], Promise<unknown>>();
  const lastOfClient = new Map<string, Promise<unknown>>();
  return (client: { id: string }, packet: unknown[], run: () => Promise<unknown>): Promise<unknown> => {
    const same = byPacket.get(packet);
    if (same) return same;
    const previous = lastOfClient.get(client.id);
    const changed = previous ? settledWithin(previous, CHANGE_WAIT_MS).then(run) : run();
    byPacket.set(packet, changed);
    lastOfClient.set(client.id, changed);
    const forget = (): void => {
      if (lastOfClient.get(client.id) === changed) lastOfClient.delete(client.id);
    };
    changed.then(forget, forget);
    return changed;
  };
}
