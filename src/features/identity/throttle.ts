/**
 * Login throttling with rate-limiter-flexible: attempts are counted per account
 * and per IP address (in Redis when configured, so every instance shares the
 * count). An attempt takes its point before the password is checked — one
 * atomic increment in the limiter's store — so a burst of parallel attempts
 * gets no more checks than the limit; a successful one gives its points back,
 * so only failures (and attempts still being checked) count. A blocked caller
 * gets 429 with Retry-After.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import { AppError } from '../../errors.js';

export interface LoginThrottle {
  /**
   * Takes this attempt's point from the account's and the address's budgets, before the password
   * is checked; throws rate_limited (and takes nothing) when either is spent.
   */
  check(account: string, ip: string): Promise<void>;
  /** The attempt failed: its points, taken by check, stay spent. */
  recordFailure(account: string, ip: string): Promise<void>;
  /** The attempt succeeded: the account's failures are forgotten and the address gets its point back. */
  recordSuccess(account: string, ip: string): Promise<void>;
}

export const ACCOUNT_FAILURES = { points: 5, duration: 15 * 60, blockDuration: 15 * 60 };
export const IP_FAILURES = { points: 30, duration: 15 * 60, blockDuration: 15 * 60 };

export function createLoginThrottle(redis: Redis | undefined, prefix = 'medhub:login'): LoginThrottle {
  const make = (name: string, options: typeof ACCOUNT_FAILURES): RateLimiterAbstract =>
    redis ? new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:${name}`, ...options }) : new RateLimiterMemory({ keyPrefix: name, ...options });
  const byAccount = make('account', ACCOUNT_FAILURES);
  const byIp = make('ip', IP_FAILURES);

  return {
    async check(account, ip) {
      // The account first: attempts refused for it cost the address nothing (others may share it).
      const accountWait = await take(byAccount, account);
      if (accountWait > 0) throw tooMany(accountWait);
      const ipWait = await take(byIp, ip);
      if (ipWait > 0) {
        await byAccount.reward(account, 1);
        throw tooMany(ipWait);
      }
    },
    async recordFailure() {
      // Nothing to write: check counted the attempt before it was made.
    },
    async recordSuccess(account, ip) {
      await Promise.all([byAccount.delete(account), byIp.reward(ip, 1)]);
    },
  };
}

/** Consumes a point (atomically in the limiter's store): 0 when taken, else the seconds until the key may try again. */
async function take(limiter: RateLimiterAbstract, key: string): Promise<number> {
  try {
    await limiter.consume(key);
    return 0;
  } catch (error) {
    if (!(error instanceof RateLimiterRes)) throw error;
    return Math.max(1, Math.ceil(error.msBeforeNext / 1000));
  }
}

function tooMany(seconds: number): AppError {
  return new AppError('rate_limited', 'Too many failed sign-in attempts; try again later', { headers: { 'Retry-After': String(seconds) } });
}
