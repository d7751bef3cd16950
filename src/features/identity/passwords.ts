import argon2 from 'argon2';

// argon2id with the library's defaults (m=64 MiB, t=3, p=4), as OWASP recommends.
export const hashPassword = (password: string): Promise<string> => argon2.hash(password, { type: argon2.argon2id });

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/**
 * Verified against when the account does not exist, so that a wrong email takes
 * as long as a wrong password and timing does not reveal who has an account.
 */
let decoy: Promise<string> | undefined;
export async function burnVerification(password: string): Promise<void> {
  decoy ??= hashPassword('decoy password that matches nothing');
  await verifyPassword(await decoy, password);
}
