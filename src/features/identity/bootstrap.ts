/**
 * The first administrator. On a store with no users, ADMIN_EMAIL and
 * ADMIN_PASSWORD create an organisation and its admin; without them the hub
 * says how to create one. Also used by `npm run admin -- create`.
 */
import type { Logger } from '../../observability/logger.js';
import type { IdentityModels, UserDoc } from './models.js';
import type { Passwords } from './passwords.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface NewAdmin {
  email: string;
  password: string;
  name?: string;
  organisation?: string;
}

export async function createAdmin(models: IdentityModels, admin: NewAdmin, passwords: Passwords): Promise<UserDoc> {
  const organisation = await models.Organisation.create({ name: admin.organisation ?? 'My organisation' });
  const user = await models.User.create({
    organisationId: organisation._id,
    email: admin.email,
    name: admin.name ?? 'Administrator',
    role: 'admin',
    passwordHash: await passwords.hash(admin.password),
  });
  return user.toObject();
}

export async function ensureFirstAdmin(models: IdentityModels, admin: { email?: string; password?: string }, passwords: Passwords, logger: Logger): Promise<void> {
  if (await models.User.exists({})) return;
  if (!admin.email || !admin.password) {
    logger.warn('No users yet: set ADMIN_EMAIL and ADMIN_PASSWORD, or run `npm run admin -- create --email … --password …`, or `npm run seed` for demo data');
    return;
  }
  try {
    await createAdmin(models, { email: admin.email, password: admin.password }, passwords);
    logger.info({ email: admin.email }, 'first administrator created');
  } catch (error) {
    // Another instance created it first.
    if (!isDuplicateKey(error)) throw error;
  }
}
