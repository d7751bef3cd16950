/**
 * Users, patients and care teams, always through the policy and into the audit
 * log. Inputs arrive validated against schemas/http; this layer adds the rules
 * a schema cannot express (same organisation, a real time zone, unique email).
 */
import { Types } from 'mongoose';
import type { Clock } from '../../ports/clock.js';
import { AppError } from '../../errors.js';
import { paginate, type PageRequest } from '../../store/pagination.js';
import { rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AuditLog } from '../audit/audit-log.js';
import { audited, type Actor } from './actor.js';
import type { AuthService } from './auth-service.js';
import type { CareTeamDoc, IdentityModels, PatientDoc, Role, UserDoc } from './models.js';
import type { Passwords } from './passwords.js';
import type { Policy } from './policy.js';
import { toCareTeamView, toPatientView, toUserView } from './views.js';
import { isDuplicateKey } from '../../store/duplicate-key.js';

export interface UserCreate {
  email: string;
  name: string;
  role: Role;
  password: string;
  phone?: string;
  patientId?: string;
}
export type UserUpdate = Partial<Pick<UserCreate, 'name' | 'role' | 'password'>> & { phone?: string | null; disabled?: boolean };
export interface PatientInput {
  name: string;
  timezone: string;
  dateOfBirth?: string;
  contacts?: { name: string; relation?: string; phone?: string; email?: string }[];
  notes?: string;
}
export interface CareTeamInput {
  userId: string;
  relation: string;
  priority: number;
}

const TIME_ZONES = new Set(Intl.supportedValuesOf('timeZone').concat('UTC'));

export function assertTimeZone(timezone: string): void {
  if (!TIME_ZONES.has(timezone)) {
    throw new AppError('validation_failed', `${timezone} is not an IANA time zone`, { details: [{ path: '/timezone', message: 'is not an IANA time zone' }] });
  }
}

/** The latest calendar date anywhere on Earth at `now` (UTC+14). */
const latestDateAt = (now: Date): string => new Date(now.getTime() + 14 * 3_600_000).toISOString().slice(0, 10);

/** A date of birth is a day that has begun somewhere: not one in the future. */
export function assertBirthDate(dateOfBirth: string | undefined, now: Date): void {
  if (dateOfBirth && dateOfBirth > latestDateAt(now)) {
    throw new AppError('validation_failed', 'dateOfBirth is in the future', { details: [{ path: '/dateOfBirth', message: 'is in the future' }] });
  }
}

const oid = (id: string): Types.ObjectId => new Types.ObjectId(id);

/** The fields a user update sets, for the audit log: names only, and the role granted (never a password or a phone number). */
function changedFields(input: UserUpdate): string[] {
  const names = (['name', 'phone', 'password', 'disabled'] as const).filter((key) => input[key] !== undefined);
  return [...(input.role ? [`role=${input.role}`] : []), ...names];
}

/** Other features (doses) follow a patient's time-zone change: told once it is stored. */
export type TimezoneListener = (patientId: string) => Promise<void>;

/** Open sockets follow care-team changes: a new member's sockets join the patient's room, a removed one's leave it. */
type LiveAccess = Pick<SocketTransport, 'addToRoom' | 'reauthorize'>;

export function createDirectoryService(models: IdentityModels, policy: Policy, audit: AuditLog, auth: AuthService, passwords: Passwords, live: LiveAccess, clock: Clock) {
  const { User, Patient, CareTeam } = models;
  const timezoneListeners: TimezoneListener[] = [];

  async function findOrgUser(actor: Actor, userId: string): Promise<UserDoc> {
    const user = Types.ObjectId.isValid(userId) ? await User.findOne({ _id: userId, organisationId: actor.principal.organisationId }).lean<UserDoc>() : null;
    if (!user) throw new AppError('not_found', 'User not found');
    return user;
  }

  async function assertPatientInOrg(actor: Actor, patientId: string): Promise<void> {
    const exists = await Patient.exists({ _id: oid(patientId), organisationId: oid(actor.principal.organisationId) });
    if (!exists) throw new AppError('validation_failed', 'patientId does not name a patient of your organisation', { details: [{ path: '/patientId', message: 'unknown patient' }] });
  }

  async function createUserAllowed(actor: Actor, input: UserCreate) {
    policy.assertMay(actor.principal, 'user.manage');
    if (input.role === 'patient') {
      if (!input.patientId) throw new AppError('validation_failed', 'A patient account needs patientId', { details: [{ path: '/patientId', message: 'is required for role patient' }] });
      await assertPatientInOrg(actor, input.patientId);
    } else if (input.patientId) {
      throw new AppError('validation_failed', 'Only patient accounts have a patientId', { details: [{ path: '/patientId', message: 'is only for role patient' }] });
    }
    try {
      const user = await User.create({
        organisationId: oid(actor.principal.organisationId),
        email: input.email,
        name: input.name,
        role: input.role,
        phone: input.phone ?? null,
        patientId: input.patientId ? oid(input.patientId) : null,
        passwordHash: await passwords.hash(input.password),
      });
      return toUserView(user.toObject());
    } catch (error) {
      if (isDuplicateKey(error)) throw new AppError('conflict', 'A user with this email already exists');
      throw error;
    }
  }

  async function updateUserAllowed(actor: Actor, userId: string, input: UserUpdate) {
    policy.assertMay(actor.principal, 'user.manage');
    const user = await findOrgUser(actor, userId);
    if (userId === actor.principal.userId && (input.disabled || (input.role && input.role !== 'admin'))) {
      throw new AppError('conflict', 'You cannot disable yourself or give up your own admin role');
    }
    if (input.role === 'patient' && !user.patientId) throw new AppError('conflict', 'Create a patient account with a patientId instead');
    const set: Record<string, unknown> = {};
    for (const key of ['name', 'role', 'phone', 'disabled'] as const) if (input[key] !== undefined) set[key] = input[key];
    if (input.password) set.passwordHash = await passwords.hash(input.password);
    const updated = await User.findByIdAndUpdate(user._id, { $set: set }, { returnDocument: 'after' }).lean<UserDoc>();
    if (input.disabled || input.password || (input.role && input.role !== user.role)) await auth.revokeAll(userId);
    return toUserView(updated as UserDoc);
  }

  return {
    /** Other features react to a patient's time-zone change here. */
    onTimezoneChange(listener: TimezoneListener): void {
      timezoneListeners.push(listener);
    },

    listUsers(actor: Actor, query: PageRequest & { role?: Role }) {
      return audited(audit, actor, { action: 'user.list', objectType: 'user' }, async () => {
        policy.assertMay(actor.principal, 'user.manage');
        const filter = { organisationId: oid(actor.principal.organisationId), ...(query.role ? { role: query.role } : {}) };
        return paginate(User, filter, query, toUserView);
      });
    },

    getUser(actor: Actor, userId: string) {
      return audited(audit, actor, { action: 'user.read', objectType: 'user', objectId: userId }, async () => {
        if (actor.principal.userId !== userId) policy.assertMay(actor.principal, 'user.manage');
        return toUserView(await findOrgUser(actor, userId));
      });
    },

    // Granting roles, resetting passwords and disabling accounts are the changes an auditor looks
    // for first: each is recorded with the fields it set (names; the role granted), refused ones too.
    createUser(actor: Actor, input: UserCreate) {
      return audited(audit, actor, { action: 'user.create', objectType: 'user', fields: [`role=${input.role}`, ...(input.patientId ? ['patientId'] : [])] }, () => createUserAllowed(actor, input));
    },

    updateUser(actor: Actor, userId: string, input: UserUpdate) {
      return audited(audit, actor, { action: 'user.update', objectType: 'user', objectId: userId, fields: changedFields(input) }, () => updateUserAllowed(actor, userId, input));
    },

    async listPatients(actor: Actor, page: PageRequest) {
      return audited(audit, actor, { action: 'patient.list', objectType: 'patient' }, async () =>
        paginate(Patient, await policy.visiblePatients(actor.principal), page, toPatientView),
      );
    },

    async createPatient(actor: Actor, input: PatientInput) {
      return audited(audit, actor, { action: 'patient.create', objectType: 'patient' }, async () => {
        policy.assertMay(actor.principal, 'patient.create');
        assertTimeZone(input.timezone);
        assertBirthDate(input.dateOfBirth, clock.now());
        const patient = await Patient.create({ ...input, organisationId: oid(actor.principal.organisationId) });
        return toPatientView(patient.toObject());
      });
    },

    async getPatient(actor: Actor, patientId: string) {
      return audited(audit, actor, { action: 'patient.read', objectType: 'patient', objectId: patientId }, async () =>
        toPatientView(await policy.assertPatient(actor.principal, patientId, 'patient.read')),
      );
    },

    async updatePatient(actor: Actor, patientId: string, input: Partial<PatientInput>) {
      return audited(audit, actor, { action: 'patient.update', objectType: 'patient', objectId: patientId }, async () => {
        const before = await policy.assertPatient(actor.principal, patientId, 'patient.update');
        if (input.timezone) assertTimeZone(input.timezone);
        assertBirthDate(input.dateOfBirth, clock.now());
        const patient = await Patient.findByIdAndUpdate(patientId, { $set: input }, { returnDocument: 'after' }).lean<PatientDoc>();
        if (patient && patient.timezone !== before.timezone) for (const listener of timezoneListeners) await listener(patientId);
        return toPatientView(patient as PatientDoc);
      });
    },

    async listCareTeam(actor: Actor, patientId: string) {
      return audited(audit, actor, { action: 'careTeam.read', objectType: 'patient', objectId: patientId }, async () => {
        await policy.assertPatient(actor.principal, patientId, 'careTeam.read');
        const links = await CareTeam.find({ patientId: oid(patientId) }).sort({ priority: 1 }).lean<CareTeamDoc[]>();
        const users = await User.find({ _id: { $in: links.map((l) => l.userId) } }, { name: 1, email: 1, role: 1 }).lean<UserDoc[]>();
        const byId = new Map(users.map((u) => [String(u._id), u]));
        return { items: links.map((link) => toCareTeamView(link, byId.get(String(link.userId)))) };
      });
    },

    async putCareTeamMember(actor: Actor, patientId: string, input: CareTeamInput) {
      return audited(audit, actor, { action: 'careTeam.manage', objectType: 'patient', objectId: patientId }, async () => {
        const patient = await policy.assertPatient(actor.principal, patientId, 'careTeam.manage');
        const member = await findOrgUser(actor, input.userId).catch(() => {
          throw new AppError('validation_failed', 'userId does not name a user of your organisation', { details: [{ path: '/userId', message: 'unknown user' }] });
        });
        if (member.role === 'patient') throw new AppError('validation_failed', 'A patient account cannot be on a care team', { details: [{ path: '/userId', message: 'is a patient account' }] });
        const link = await CareTeam.findOneAndUpdate(
          { patientId: patient._id, userId: member._id },
          { $set: { relation: input.relation, priority: input.priority }, $setOnInsert: { organisationId: patient.organisationId } },
          { upsert: true, returnDocument: 'after' },
        ).lean<CareTeamDoc>();
        live.addToRoom(rooms.user(String(member._id)), rooms.patient(patientId));
        return toCareTeamView(link as CareTeamDoc, member);
      });
    },

    async removeCareTeamMember(actor: Actor, patientId: string, userId: string) {
      return audited(audit, actor, { action: 'careTeam.manage', objectType: 'patient', objectId: patientId }, async () => {
        await policy.assertPatient(actor.principal, patientId, 'careTeam.manage');
        const result = await CareTeam.deleteOne({ patientId: oid(patientId), userId: Types.ObjectId.isValid(userId) ? oid(userId) : null });
        if (result.deletedCount === 0) throw new AppError('not_found', 'This user is not on the care team');
        live.reauthorize(userId);
      });
    },
  };
}

export type DirectoryService = ReturnType<typeof createDirectoryService>;
