import type { Role } from './models.js';

/** A signed-in person, as every transport sees them after authentication. */
export interface UserPrincipal {
  kind: 'user';
  userId: string;
  organisationId: string;
  role: Role;
  /** For role `patient`: their own patient record. */
  patientId: string | null;
  /** The login session (refresh-token family) the access token belongs to. */
  sessionId: string;
  /** When the access token it was read from expires (sockets close then); none for principals the hub builds itself. */
  expiresAt?: Date;
}
