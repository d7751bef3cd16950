/**
 * Password hashes: argon2id, at the cost the configuration sets (PASSWORD_HASH_*). The default is
 * OWASP's first argon2id configuration — 19 MiB, 2 passes, 1 lane: ~75 ms of CPU per hash on a
 * 2-core server. (The library's own default, 64 MiB × 3 passes × 4 lanes, took ~390 ms, so a few
 * logins a second kept a core busy.) A hash carries its parameters, so hashes made at another
 * cost still verify.
 */
import argon2 from 'argon2';

export interface PasswordHashing {
  memoryKib: number;
  timeCost: number;
  parallelism: number;
}

/** What the configuration defaults to (src/config.ts, PASSWORD_HASH_*). */
export const DEFAULT_PASSWORD_HASHING: PasswordHashing = { memoryKib: 19456, timeCost: 2, parallelism: 1 };

export function createPasswords({ memoryKib, timeCost, parallelism }: PasswordHashing) {
  const hash = (password: string): Promise<string> => argon2.hash(password, { type: argon2.argon2id, memoryCost: memoryKib, timeCost, parallelism });

  async function verify(hashed: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hashed, password);
    } catch {
      return false;
    }
  }

  let decoy: Promise<string> | undefined;

  return {
    hash,
    verify,
    /** Whether `hashed` was made at another cost (or argon2 version) than the configured one. */
    needsRehash(hashed: string): boolean {
      try {
        return argon2.needsRehash(hashed, { memoryCost: memoryKib, timeCost, parallelism });
      } catch {
        return false;
      }
    },
    /**
     * Verified against when the account does not exist, so that a wrong email takes as long as a
     * wrong password and timing does not reveal who has an account — for accounts hashed at the
     * configured cost; others are hashed again at their next login (auth-service.ts).
     */
    async burnVerification(password: string): Promise<void> {
      decoy ??= hash('decoy password that matches nothing');
      await verify(await decoy, password);
    },
  };
}

export type Passwords = ReturnType<typeof createPasswords>;
