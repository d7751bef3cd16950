/**
 * npm run admin -- create --email admin@example.org --password '…' [--name …] [--organisation …]
 * Creates an organisation and its first administrator in the hub's store.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createAdmin } from '../src/features/identity/bootstrap.js';
import { createPasswords } from '../src/features/identity/passwords.js';
import { identityModels } from '../src/features/identity/models.js';
import { schemas } from '../src/schemas.js';
import { openScriptStore } from './script-store.js';

const USAGE = "usage: npm run admin -- create --email EMAIL --password PASSWORD [--name NAME] [--organisation NAME]";

/** The arguments, or the usage (on stdout when asked for with --help, else on stderr with exit code 2). */
function readArguments() {
  try {
    const parsed = parseArgs({
      allowPositionals: true,
      options: { email: { type: 'string' }, password: { type: 'string' }, name: { type: 'string' }, organisation: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (parsed.values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    if (parsed.positionals[0] === 'create' && parsed.values.email && parsed.values.password) return { ...parsed.values, email: parsed.values.email, password: parsed.values.password };
  } catch (error) {
    console.error((error as Error).message);
  }
  console.error(USAGE);
  process.exit(2);
}

const values = readArguments();
const check = schemas().check('http/user-create', { email: values.email, password: values.password, name: values.name ?? 'Administrator', role: 'admin' });
if (!check.ok) {
  console.error(check.details.map((d) => `${d.path.slice(1)} ${d.message}`).join('\n'));
  process.exit(2);
}

const store = await openScriptStore();
try {
  const models = identityModels(store.connection);
  await models.User.init();
  const admin = await createAdmin(models, { email: values.email, password: values.password, name: values.name, organisation: values.organisation }, createPasswords(loadConfig().passwords));
  console.log(`Created administrator ${admin.email} in a new organisation (${String(admin.organisationId)}).`);
} catch (error) {
  console.error((error as { code?: number }).code === 11000 ? `A user with email ${values.email} already exists.` : String(error));
  process.exitCode = 1;
} finally {
  await store.close();
}
