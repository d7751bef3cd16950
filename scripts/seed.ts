/**
 * npm run seed — a realistic demo organisation: an admin, a clinician, two
 * caregivers, three patients in different time zones with care teams, and a
 * patient account. Prints the logins. Running it again changes nothing.
 */
import type { Types } from 'mongoose';
import { createAdmin } from '../src/features/identity/bootstrap.js';
import { identityModels } from '../src/features/identity/models.js';
import { loadConfig } from '../src/config.js';
import { createPasswords } from '../src/features/identity/passwords.js';
import { openScriptStore } from './script-store.js';

const DEMO_PASSWORD = 'medhub-demo-password';
const ADMIN_EMAIL = 'admin@sunrise.example';

const store = await openScriptStore();
const models = identityModels(store.connection);
const config = loadConfig();
const passwords = createPasswords(config.passwords);
await Promise.all(Object.values(models).map((model) => model.init()));

if (await models.User.exists({ email: ADMIN_EMAIL })) {
  console.log('Demo data is already there.');
} else {
  const admin = await createAdmin(models, { email: ADMIN_EMAIL, password: DEMO_PASSWORD, name: 'Ada Admin', organisation: 'Sunrise Care' }, passwords);
  const organisationId = admin.organisationId;
  const passwordHash = await passwords.hash(DEMO_PASSWORD);
  const user = (email: string, name: string, role: 'clinician' | 'caregiver' | 'patient', patientId: Types.ObjectId | null = null) =>
    models.User.create({ organisationId, email, name, role, passwordHash, patientId });

  await user('clinician@sunrise.example', 'Dr. Claire Martin', 'clinician');
  const sam = await user('sam@sunrise.example', 'Sam Okafor', 'caregiver');
  const lea = await user('lea@sunrise.example', 'Léa Dubois', 'caregiver');
  const [alice, bernard] = await models.Patient.insertMany([
    { organisationId, name: 'Alice Okafor', timezone: 'Europe/London', contacts: [{ name: 'Sam Okafor', relation: 'son', phone: '+447700900001' }] },
    { organisationId, name: 'Bernard Dubois', timezone: 'Europe/Paris', contacts: [{ name: 'Léa Dubois', relation: 'daughter', phone: '+33612345678' }] },
    { organisationId, name: 'Chen Wei', timezone: 'America/New_York' },
  ]);
  await models.CareTeam.create([
    { organisationId, patientId: alice!._id, userId: sam._id, relation: 'son', priority: 1 },
    { organisationId, patientId: bernard!._id, userId: lea._id, relation: 'daughter', priority: 1 },
    { organisationId, patientId: bernard!._id, userId: sam._id, relation: 'neighbour', priority: 2 },
  ]);
  await user('alice@sunrise.example', 'Alice Okafor', 'patient', alice!._id);
}

console.log(`
Demo organisation "Sunrise Care" — every password is ${DEMO_PASSWORD}
  admin      ${ADMIN_EMAIL}
  clinician  clinician@sunrise.example
  caregiver  sam@sunrise.example   (Alice, and Bernard as second contact)
  caregiver  lea@sunrise.example   (Bernard)
  patient    alice@sunrise.example
Sign in: curl -s -X POST localhost:${config.port}/api/v1/auth/login -H 'content-type: application/json' \\
           -d '{"email":"${ADMIN_EMAIL}","password":"${DEMO_PASSWORD}"}'`);
await store.close();
