import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import type { UserPrincipal } from './principal.js';

/** Who is acting and through what: what services need for policy and audit. */
export interface Actor {
  principal: UserPrincipal;
  via: 'http' | 'socket';
  ip?: string | null;
  requestId?: string | null;
}

/**
 * Runs an action on an object and records it in the audit log: allowed when it
 * succeeds, denied when policy refuses (403/404), failed otherwise. The error
 * still reaches the caller.
 */
export async function audited<T>(
  audit: AuditLog,
  actor: Actor,
  what: { action: string; objectType: string; objectId?: string | null; fields?: string[] },
  run: () => Promise<T>,
): Promise<T> {
  const base: Omit<AuditEvent, 'outcome'> = {
    organisationId: actor.principal.organisationId,
    actor: { type: 'user', id: actor.principal.userId, role: actor.principal.role },
    action: what.action,
    objectType: what.objectType,
    objectId: what.objectId ?? null,
    via: actor.via,
    ip: actor.ip ?? null,
    requestId: actor.requestId ?? null,
    ...(what.fields?.length ? { fields: what.fields } : {}),
  };
  try {
    const result = await run();
    await audit.record({ ...base, outcome: 'allowed' });
    return result;
  } catch (error) {
    const status = (error as { status?: number }).status;
    await audit.record({ ...base, outcome: status === 403 || status === 404 ? 'denied' : 'failed' });
    throw error;
  }
}
