/**
 * The alerts service: raise (one open alert per cause), acknowledge, resolve
 * (by a person or because the cause cleared), the escalation tick, and the
 * escalation policies. Implements the AlertsApi contract other features call.
 */
import { Types, type QueryFilter } from 'mongoose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import { patientAudience, rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import type { PatientDoc } from '../identity/models.js';
import type { AlertRef, AlertSeverity, AlertStatus, AlertType, AlertsApi, RaiseAlert } from './contract.js';
import { endpointLabel, type AlertDelivery, type PlannedNotification } from './delivery.js';
import type { AlertDoc, AlertModels, EscalationPolicyDoc } from './models.js';
import { policyView, quietUntil, toPolicy, type EscalationPolicy } from './policy.js';
import { initialsOf, toAlertView, toNotificationView, type AlertView } from './views.js';

export const DEFAULT_SEVERITY: Record<AlertType, AlertSeverity> = {
  'dose.missed': 'warning',
  'dose.late': 'info',
  'device.offline': 'warning',
  'device.jam': 'warning',
  'device.tamper': 'warning',
  'battery.low': 'warning',
  'refill.low': 'warning',
  'help.requested': 'critical',
};

/** help.requested tells the first two tiers at once. */
const DEFAULT_START_TIER: Partial<Record<AlertType, number>> = { 'help.requested': 1 };

const STAFF = new Set(['admin', 'clinician']);
const isDuplicateKey = (error: unknown): boolean => (error as { code?: number }).code === 11000;
const ref = (alert: AlertDoc): AlertRef => ({ id: String(alert._id), cause: alert.cause, status: alert.status as AlertStatus });

export interface AlertsQuery extends PageRequest {
  patientId?: string;
  status?: AlertStatus;
}

interface Deps {
  models: AlertModels;
  identity: Identity;
  sockets: SocketTransport;
  delivery: AlertDelivery;
  clock: Clock;
  logger: Logger;
}

export function createAlertService({ models, identity, sockets, delivery, clock, logger }: Deps) {
  const { Alert, EscalationPolicy, Notification } = models;
  const { Patient, User, CareTeam } = identity.models;

  const audienceOf = (alert: Pick<AlertDoc, 'organisationId' | 'patientId'>): string[] =>
    alert.patientId ? patientAudience({ id: String(alert.patientId), organisationId: String(alert.organisationId) }) : [rooms.organisationStaff(String(alert.organisationId))];
  const publish = (event: 'alert:raised' | 'alert:updated', alert: AlertDoc): void => sockets.emit(audienceOf(alert), event, toAlertView(alert));

  async function effectivePolicy(organisationId: string, patientId: string | null): Promise<{ policy: EscalationPolicy; source: 'patient' | 'organisation' | 'default' }> {
    const org = new Types.ObjectId(organisationId);
    const own = patientId ? await EscalationPolicy.findOne({ organisationId: org, patientId: new Types.ObjectId(patientId) }).lean<EscalationPolicyDoc>() : null;
    if (own) return { policy: toPolicy(own as never), source: 'patient' };
    const fallback = await EscalationPolicy.findOne({ organisationId: org, patientId: null }).lean<EscalationPolicyDoc>();
    if (fallback) return { policy: toPolicy(fallback as never), source: 'organisation' };
    return { policy: toPolicy(null), source: 'default' };
  }

  async function patientOf(alert: Pick<AlertDoc, 'patientId'>): Promise<PatientDoc | null> {
    return alert.patientId ? Patient.findById(alert.patientId).lean<PatientDoc>() : null;
  }

  /** The users a tier names: care-team members by priority, users of a role, or named users. */
  async function tierUsers(alert: AlertDoc, tierIndex: number): Promise<{ _id: Types.ObjectId; phone?: string | null }[]> {
    const tier = alert.policy.tiers[tierIndex];
    if (!tier) return [];
    const ids = new Set<string>();
    for (const recipient of tier.recipients) {
      if (recipient.careTeam?.priority !== undefined && alert.patientId) {
        const links = await CareTeam.find({ patientId: alert.patientId, priority: recipient.careTeam.priority }, { userId: 1 }).lean();
        for (const link of links) ids.add(String(link.userId));
      }
      if (recipient.role) {
        const users = await User.find({ organisationId: alert.organisationId, role: recipient.role as 'admin', disabled: false }, { _id: 1 }).lean();
        for (const user of users) ids.add(String(user._id));
      }
      if (recipient.userId && Types.ObjectId.isValid(recipient.userId)) ids.add(recipient.userId);
    }
    if (!ids.size) return [];
    return User.find({ _id: { $in: [...ids].map((id) => new Types.ObjectId(id)) }, organisationId: alert.organisationId, disabled: false }, { phone: 1 }).lean();
  }

  async function plan(alert: AlertDoc, tiers: number[], event: PlannedNotification['event'], skip?: string): Promise<PlannedNotification[]> {
    const policy = alert.policy;
    const planned: PlannedNotification[] = [];
    for (const tierIndex of tiers) {
      const tier = policy.tiers[tierIndex];
      if (!tier) continue;
      const users = await tierUsers(alert, tierIndex);
      const base = { alertId: alert._id, organisationId: alert.organisationId, tier: tierIndex, event };
      for (const channel of tier.channels) {
        if (channel === 'webhook') {
          for (const endpoint of policy.webhooks ?? []) planned.push({ ...base, channel, target: { url: endpoint.url, secret: endpoint.secret }, skip });
          continue;
        }
        for (const user of users) {
          const target = { userId: String(user._id), phone: user.phone ?? null };
          if (channel === 'socket') planned.push({ ...base, channel, target, skip });
          else {
            const gateway = channel === 'sms' ? policy.sms : policy.voice;
            const reason = skip ?? (!gateway?.url ? `no_${channel}_gateway` : !user.phone ? 'no_phone' : undefined);
            planned.push({ ...base, channel, target: { ...target, url: gateway?.url ?? null, secret: gateway?.secret ?? null }, skip: reason });
          }
        }
      }
    }
    return planned;
  }

  async function notify(alert: AlertDoc, tiers: number[], event: PlannedNotification['event'], skip?: string): Promise<void> {
    if (!tiers.length) return;
    await send(alert, await plan(alert, tiers, event, skip));
  }

  /**
   * A follow-up once an alert is resolved: everyone it reached (delivered notifications) hears that
   * it is over, on the same channels, so nobody drives over for a dose that was taken after all.
   */
  async function followUp(alert: AlertDoc): Promise<void> {
    const reached = await Notification.find({ alertId: alert._id, status: 'delivered', event: { $ne: 'alert.resolved' } }, { channel: 1, userId: 1, endpoint: 1, tier: 1 }).lean();
    if (!reached.length) return;
    const seen = new Set<string>();
    const users = new Map((await User.find({ _id: { $in: reached.filter((n) => n.userId).map((n) => new Types.ObjectId(String(n.userId))) } }, { phone: 1 }).lean()).map((u) => [String(u._id), u]));
    const planned: PlannedNotification[] = [];
    for (const sent of reached) {
      const key = `${sent.channel}|${sent.userId ?? ''}|${sent.endpoint ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const base = { alertId: alert._id, organisationId: alert.organisationId, tier: sent.tier, event: 'alert.resolved' as const, channel: sent.channel };
      if (sent.channel === 'webhook') {
        const endpoint = (alert.policy.webhooks ?? []).find((w) => endpointLabel(w.url) === sent.endpoint);
        if (endpoint) planned.push({ ...base, target: { url: endpoint.url, secret: endpoint.secret } });
      } else if (sent.userId) {
        const gateway = sent.channel === 'sms' ? alert.policy.sms : sent.channel === 'voice' ? alert.policy.voice : null;
        // A phone call to say "never mind" helps nobody: voice recipients get no follow-up.
        if (sent.channel === 'voice') continue;
        planned.push({ ...base, target: { userId: sent.userId, phone: users.get(sent.userId)?.phone ?? null, url: gateway?.url ?? null, secret: gateway?.secret ?? null } });
      }
    }
    await send(alert, planned);
  }

  async function send(alert: AlertDoc, planned: PlannedNotification[]): Promise<void> {
    if (!planned.length) return;
    const patient = await patientOf(alert);
    await delivery.send(planned, {
      alertId: String(alert._id),
      organisationId: String(alert.organisationId),
      patientId: alert.patientId ? String(alert.patientId) : null,
      patientInitials: initialsOf(patient?.name),
      type: alert.type,
      severity: alert.severity,
      raisedAt: new Date(alert.raisedAt).toISOString(),
      link: `/api/v1/alerts/${String(alert._id)}`,
    });
  }

  const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

  function quietEnd(alert: AlertDoc, at: Date): Date | null {
    if (alert.severity === 'critical') return null;
    return quietUntil(alert.policy.quietHours as EscalationPolicy['quietHours'], at, alert.policy.timezone ?? 'UTC');
  }

  function nextAfter(alert: AlertDoc, tier: number, at: Date): Date | null {
    const next = alert.policy.tiers[tier + 1];
    return next ? new Date(at.getTime() + (next.delayMinutes ?? 0) * 60_000) : null;
  }

  /** First notifications of a new alert: tiers 0..tier now, or suppressed and deferred to the end of quiet hours. */
  async function startEscalation(alert: AlertDoc): Promise<void> {
    const now = clock.now();
    const tiers = range(0, alert.tier);
    const quiet = quietEnd(alert, now);
    if (quiet) {
      await Alert.updateOne({ _id: alert._id, status: 'active' }, { $set: { nextEscalationAt: quiet } });
      await notify(alert, tiers, 'alert.raised', 'quiet_hours');
      return;
    }
    await Alert.updateOne({ _id: alert._id, status: 'active' }, { $set: { notifiedTier: alert.tier, nextEscalationAt: nextAfter(alert, alert.tier, now) } });
    await notify(alert, tiers, 'alert.raised');
  }

  async function loadAlert(actor: Actor, alertId: string, action: 'alert.read' | 'alert.act'): Promise<AlertDoc> {
    const alert = Types.ObjectId.isValid(alertId) ? await Alert.findById(alertId).lean<AlertDoc>() : null;
    const principal = actor.principal;
    if (!alert || String(alert.organisationId) !== principal.organisationId) throw new AppError('not_found', 'Alert not found');
    if (alert.patientId) {
      try {
        await identity.policy.assertPatient(principal, String(alert.patientId), action);
      } catch (error) {
        if ((error as AppError).status === 404) throw new AppError('not_found', 'Alert not found');
        throw error;
      }
    } else if (!STAFF.has(principal.role)) throw new AppError('not_found', 'Alert not found');
    return alert;
  }

  const auditAlert = <T>(actor: Actor, action: string, alertId: string | null, run: () => Promise<T>): Promise<T> => audited(identity.audit, actor, { action, objectType: 'alert', objectId: alertId }, run);

  const api: AlertsApi = {
    async raise(input: RaiseAlert): Promise<AlertRef> {
      const open = await Alert.findOne({ cause: input.cause, open: true }).lean<AlertDoc>();
      if (open) return ref(open);
      const { policy, source } = await effectivePolicy(input.organisationId, input.patientId);
      const patient = input.patientId ? await Patient.findById(input.patientId, { timezone: 1 }).lean<PatientDoc>() : null;
      const tierCount = policy.tiers.length;
      const startTier = Math.max(0, Math.min(input.startTier ?? DEFAULT_START_TIER[input.type] ?? 0, tierCount - 1));
      let alert: AlertDoc;
      try {
        const created = await Alert.create({
          organisationId: new Types.ObjectId(input.organisationId),
          patientId: input.patientId ? new Types.ObjectId(input.patientId) : null,
          deviceId: input.deviceId ?? null,
          type: input.type,
          severity: input.severity ?? DEFAULT_SEVERITY[input.type],
          cause: input.cause,
          status: 'active',
          open: true,
          raisedAt: input.at ?? clock.now(),
          tier: startTier,
          notifiedTier: -1,
          nextEscalationAt: null,
          policy: { ...policy, timezone: patient?.timezone ?? 'UTC', source },
          details: input.details ?? {},
        });
        alert = created.toObject() as AlertDoc;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        const existing = await Alert.findOne({ cause: input.cause, open: true }).lean<AlertDoc>();
        if (!existing) throw error;
        return ref(existing);
      }
      logger.info({ alertId: String(alert._id), type: alert.type, severity: alert.severity, patientId: input.patientId }, 'alert raised');
      publish('alert:raised', alert);
      if (tierCount > 0) await startEscalation(alert);
      return ref(alert);
    },

    async resolveCause(cause: string, note: string): Promise<AlertRef | null> {
      const now = clock.now();
      const alert = await Alert.findOneAndUpdate(
        { cause, open: true },
        { $set: { status: 'resolved', open: false, nextEscalationAt: null, resolved: { by: null, at: now, note, auto: true } } },
        { returnDocument: 'after' },
      ).lean<AlertDoc>();
      if (!alert) return null;
      publish('alert:updated', alert);
      await followUp(alert);
      return ref(alert);
    },
  };

  return {
    ...api,
    effectivePolicy,

    async list(actor: Actor, query: AlertsQuery): Promise<Page<AlertView>> {
      return auditAlert(actor, 'alert.list', null, async () => {
        const principal = actor.principal;
        const filter: QueryFilter<AlertDoc> = { organisationId: new Types.ObjectId(principal.organisationId) };
        if (query.patientId) {
          await identity.policy.assertPatient(principal, query.patientId, 'alert.read');
          filter.patientId = new Types.ObjectId(query.patientId);
        } else if (!STAFF.has(principal.role)) {
          filter.patientId = { $in: (await identity.policy.visiblePatientIds(principal)).map((id) => new Types.ObjectId(id)) };
        }
        if (query.status) filter.status = query.status;
        return paginate(Alert, filter, query, toAlertView);
      });
    },

    get: (actor: Actor, alertId: string) => auditAlert(actor, 'alert.read', alertId, async () => toAlertView(await loadAlert(actor, alertId, 'alert.read'))),

    notifications: (actor: Actor, alertId: string) =>
      auditAlert(actor, 'alert.notifications.read', alertId, async () => {
        await loadAlert(actor, alertId, 'alert.read');
        const docs = await Notification.find({ alertId: new Types.ObjectId(alertId) }).sort({ createdAt: 1, _id: 1 }).lean();
        return { items: docs.map(toNotificationView) };
      }),

    acknowledge: (actor: Actor, alertId: string, note?: string | null) =>
      auditAlert(actor, 'alert.acknowledge', alertId, async () => {
        await loadAlert(actor, alertId, 'alert.act');
        const alert = await Alert.findOneAndUpdate(
          { _id: new Types.ObjectId(alertId), status: 'active' },
          { $set: { status: 'acknowledged', nextEscalationAt: null, acknowledged: { by: actor.principal.userId, at: clock.now(), note: note ?? null, auto: false } } },
          { returnDocument: 'after' },
        ).lean<AlertDoc>();
        if (alert) {
          publish('alert:updated', alert);
          return toAlertView(alert);
        }
        const current = await Alert.findById(alertId).lean<AlertDoc>();
        if (current?.status === 'acknowledged') return toAlertView(current);
        throw new AppError('conflict', 'The alert is already resolved');
      }),

    resolve: (actor: Actor, alertId: string, note: string) =>
      auditAlert(actor, 'alert.resolve', alertId, async () => {
        await loadAlert(actor, alertId, 'alert.act');
        const alert = await Alert.findOneAndUpdate(
          { _id: new Types.ObjectId(alertId), open: true },
          { $set: { status: 'resolved', open: false, nextEscalationAt: null, resolved: { by: actor.principal.userId, at: clock.now(), note, auto: false } } },
          { returnDocument: 'after' },
        ).lean<AlertDoc>();
        if (alert) {
          publish('alert:updated', alert);
          await followUp(alert);
          return toAlertView(alert);
        }
        const current = await Alert.findById(alertId).lean<AlertDoc>();
        if (current) return toAlertView(current);
        throw new AppError('not_found', 'Alert not found');
      }),

    /**
     * The escalation tick (job `alerts.escalate`): every active alert whose next escalation time has
     * passed moves one tier up and that tier is notified. The move is a conditional update on
     * {_id, tier, nextEscalationAt}: of two runs (or two instances) only one wins it, so nobody is
     * notified twice. Returns how many alerts moved.
     */
    async escalate(): Promise<number> {
      const now = clock.now();
      const due = await Alert.find({ status: 'active', nextEscalationAt: { $ne: null, $lte: now } }).sort({ nextEscalationAt: 1 }).limit(500).lean<AlertDoc[]>();
      let moved = 0;
      for (const alert of due) {
        const deferred = alert.notifiedTier < alert.tier;
        const target = deferred ? alert.tier : alert.tier + 1;
        const guard: QueryFilter<AlertDoc> = { _id: alert._id, status: 'active' as const, tier: alert.tier, nextEscalationAt: alert.nextEscalationAt };
        if (target >= alert.policy.tiers.length) {
          await Alert.updateOne(guard, { $set: { nextEscalationAt: null } });
          continue;
        }
        const quiet = quietEnd(alert, now);
        if (quiet) {
          const won = await Alert.findOneAndUpdate(guard, { $set: { tier: target, nextEscalationAt: quiet } }, { returnDocument: 'after' }).lean<AlertDoc>();
          if (won && !deferred) await notify(won, [target], 'alert.escalated', 'quiet_hours');
          continue;
        }
        const won = await Alert.findOneAndUpdate(guard, { $set: { tier: target, notifiedTier: target, nextEscalationAt: nextAfter(alert, target, now) } }, { returnDocument: 'after' }).lean<AlertDoc>();
        if (!won) continue;
        moved += 1;
        if (!deferred) publish('alert:updated', won);
        await notify(won, range(alert.notifiedTier + 1, target), alert.notifiedTier < 0 ? 'alert.raised' : 'alert.escalated');
      }
      if (moved) logger.info({ moved }, 'alerts escalated');
      return moved;
    },

    async getOrganisationPolicy(actor: Actor) {
      if (actor.principal.role !== 'admin') throw new AppError('forbidden', 'Only administrators manage the organisation escalation policy');
      const doc = await EscalationPolicy.findOne({ organisationId: new Types.ObjectId(actor.principal.organisationId), patientId: null }).lean<EscalationPolicyDoc>();
      return policyView(toPolicy(doc as never), doc ? 'organisation' : 'default');
    },

    putOrganisationPolicy: (actor: Actor, body: EscalationPolicy) =>
      auditAlert(actor, 'escalationPolicy.update', actor.principal.organisationId, async () => {
        if (actor.principal.role !== 'admin') throw new AppError('forbidden', 'Only administrators manage the organisation escalation policy');
        const policy = toPolicy(body);
        await EscalationPolicy.findOneAndUpdate(
          { organisationId: new Types.ObjectId(actor.principal.organisationId), patientId: null },
          { $set: { ...policy, updatedBy: actor.principal.userId } },
          { upsert: true },
        );
        return policyView(policy, 'organisation');
      }),

    getPatientPolicy: (actor: Actor, patientId: string) =>
      auditAlert(actor, 'escalationPolicy.read', patientId, async () => {
        const patient = await identity.policy.assertPatient(actor.principal, patientId, 'patient.update');
        const { policy, source } = await effectivePolicy(String(patient.organisationId), patientId);
        return policyView(policy, source);
      }),

    putPatientPolicy: (actor: Actor, patientId: string, body: EscalationPolicy) =>
      auditAlert(actor, 'escalationPolicy.update', patientId, async () => {
        const patient = await identity.policy.assertPatient(actor.principal, patientId, 'patient.update');
        const policy = toPolicy(body);
        await EscalationPolicy.findOneAndUpdate(
          { organisationId: patient.organisationId, patientId: patient._id },
          { $set: { ...policy, updatedBy: actor.principal.userId } },
          { upsert: true },
        );
        return policyView(policy, 'patient');
      }),
  };
}

export type AlertService = ReturnType<typeof createAlertService>;
