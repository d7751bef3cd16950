/**
 * Seeded randomness, so a scenario run is reproducible: the same seed gives
 * the same doses missed, late or jammed. Ids stay truly random (randomUUID),
 * because two runs must never produce the same eventId.
 */
export type Random = () => number;

/** mulberry32: tiny, fast and good enough to pick behaviours. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for one device of a fleet, from the fleet seed and the device id. */
export function deviceSeed(fleetSeed: number, deviceId: string): number {
  let hash = fleetSeed >>> 0;
  for (let i = 0; i < deviceId.length; i++) hash = Math.imul(hash ^ deviceId.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export const uniform = (random: Random, min: number, max: number): number => min + (max - min) * random();

export const chance = (random: Random, probability: number): boolean => random() < probability;
