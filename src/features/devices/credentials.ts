import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A device id: short, URL- and topic-safe, and unguessable enough not to leak fleet size. */
export const newDeviceId = (): string => `dev_${randomBytes(9).toString('base64url')}`;

/** 256 random bits, shown once at provisioning or rotation. */
export const newDeviceSecret = (): string => randomBytes(32).toString('base64url');

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

export function secretMatches(hash: string, secret: string): boolean {
  const presented = Buffer.from(hashSecret(secret));
  const stored = Buffer.from(hash);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
