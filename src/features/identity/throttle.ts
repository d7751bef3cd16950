/**
 * Login throttling with rate-limiter-flexible: failed attempts are counted per
 * account and per IP address (in Redis when configured, so every instance
 * shares the count). A blocked caller gets 429 with Retry-After.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { AppError } from '../../errors.js';

export interface LoginThrottle {
  /** Throws rate_limited when the account or the address is blocked. */
  check(account: string, ip: string): Promise<void>;
  recordFailure(account: string, ip: string): Promise<void>;
  recordSuccess(account: string): Promise<void>;
}

export const ACCOUNT_FAILURES = { points: 5, duration: 15 * 60, blockDuration: 15 * 60 };
export const IP_FAILURES = { points: 30, duration: 15 * 60, blockDuration: 15 * 60 };

export function createLoginThrottle(redis: Redis | undefined, prefix = 'medhub:login'): LoginThrottle {
  const make = (name: string, options: typeof ACCOUNT_FAILURES): RateLimiterAbstract =>
    redis ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:${name}`, ...options }) : new RateLimiterMemory({ keyPrefix: name, ...options });
  const byAccount = make('account', ACCOUNT_FAILURES);
  const byIp = make('ip', IP_FAILURES);

  async function blockedFor(limiter: RateLimiterAbstract, key: string, points: number): Promise<number> {
    const state = await limiter.get(key);
    return state && state.consumedPoints >= points ? Math.ceil(state.msBeforeNext / 1000) : 0;
  }

  return {
    async check(account, ip) {
      const wait = Math.max(await blockedFor(byAccount, account, ACCOUNT_FAILURES.points), await blockedFor(byIp, ip, IP_FAILURES.points));
      if (wait > 0) throw tooMany(wait);
    },
    async recordFailure(account, ip) {
      await Promise.all([consume(byAccount, account), consume(byIp, ip)]);
    },
    async recordSuccess(account) {
      await byAccount.delete(account);
    },
  };
}

async function consume(limiter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (error) {
    if (!(error instanceof RateLimiterRes)) throw error;
  }
}

function tooMany(seconds: number): AppError {
  return new AppError('rate_limited', 'Too many failed sign-in attempts; try again later', { headers: { 'Retry-After': String(seconds) } });
}
