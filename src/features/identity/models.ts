/**
 * Identity data: organisations (tenants), users with one role, patients (with
 * their IANA time zone), care-team links (user ↔ patient, with the priority
 * escalation uses) and sessions (one per login; the refresh-token family).
 * Models are registered on the hub's connection, never on mongoose's global one.
 */
import { Schema, type Connection, type InferSchemaType, type Model, type Types } from 'mongoose';

export const ROLES = ['admin', 'clinician', 'caregiver', 'patient'] as const;
export type Role = (typeof ROLES)[number];

const organisationSchema = new Schema(
  {
    name: { type: String, required: true },
  },
  { timestamps: true },
);

const userSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true, index: true },
    email: { type: String, required: true, lowercase: true, trim: true },
    name: { type: String, required: true },
    role: { type: String, enum: ROLES, required: true },
    passwordHash: { type: String, required: true },
    /** For role `patient`: the patient record this account belongs to. */
    patientId: { type: Schema.Types.ObjectId, default: null },
    phone: { type: String, default: null },
    disabled: { type: Boolean, default: false },
  },
  { timestamps: true },
);
userSchema.index({ email: 1 }, { unique: true });

const contactSchema = new Schema(
  { name: { type: String, required: true }, relation: String, phone: String, email: String },
  { _id: false },
);

const patientSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true, index: true },
    name: { type: String, required: true },
    timezone: { type: String, required: true },
    dateOfBirth: { type: String, default: null },
    contacts: { type: [contactSchema], default: [] },
    notes: { type: String, default: null },
  },
  { timestamps: true },
);

const careTeamSchema = new Schema(
  {
    organisationId: { type: Schema.Types.ObjectId, required: true },
    patientId: { type: Schema.Types.ObjectId, required: true },
    userId: { type: Schema.Types.ObjectId, required: true, index: true },
    relation: { type: String, required: true },
    /** 1 is called first by escalation. */
    priority: { type: Number, required: true, min: 1 },
  },
  { timestamps: true },
);
careTeamSchema.index({ patientId: 1, userId: 1 }, { unique: true });

const sessionSchema = new Schema(
  {
    userId: { type: Schema.Types.ObjectId, required: true, index: true },
    /** SHA-256 of the current refresh token; the token itself is never stored. */
    tokenHash: { type: String, required: true },
    /**
     * SHA-256 of the family secret every refresh token of the session carries (tokens.ts): a token
     * of the family that is not the current one is a replaced token presented again — someone
     * holds a copy — and ends the session. Null for a session begun before families, until its
     * next rotation.
     */
    familyHash: { type: String, default: null },
    /**
     * For a session begun before families: the hash of its last token without one, replaced at
     * the rotation that gave it a family. Presenting that token again ends the session too.
     */
    previousHash: { type: String, default: null },
    expiresAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
    ip: { type: String, default: null },
  },
  { timestamps: true },
);
// Expired sessions disappear on their own (TTL index).
sessionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export type OrganisationDoc = InferSchemaType<typeof organisationSchema> & { _id: Types.ObjectId };
export type UserDoc = InferSchemaType<typeof userSchema> & { _id: Types.ObjectId };
export type PatientDoc = InferSchemaType<typeof patientSchema> & { _id: Types.ObjectId };
export type CareTeamDoc = InferSchemaType<typeof careTeamSchema> & { _id: Types.ObjectId };
export type SessionDoc = InferSchemaType<typeof sessionSchema> & { _id: Types.ObjectId };

export interface IdentityModels {
  Organisation: Model<OrganisationDoc>;
  User: Model<UserDoc>;
  Patient: Model<PatientDoc>;
  CareTeam: Model<CareTeamDoc>;
  Session: Model<SessionDoc>;
}

export function identityModels(connection: Connection): IdentityModels {
  return {
    Organisation: connection.model<OrganisationDoc>('Organisation', organisationSchema),
    User: connection.model<UserDoc>('User', userSchema),
    Patient: connection.model<PatientDoc>('Patient', patientSchema),
    CareTeam: connection.model<CareTeamDoc>('CareTeam', careTeamSchema, 'care_team'),
    Session: connection.model<SessionDoc>('Session', sessionSchema),
  };
}
