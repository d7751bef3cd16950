/**
 * The alerts service: raise (one open alert per cause), acknowledge, resolve
 * (by a person or because the cause cleared), the escalation tick, and the
 * escalation policies. Implements the AlertsApi contract other features call.
 */
import { Types, type QueryFilter } from 'mongoose';
import { AppError } from '../../errors.js';
import type { DestinationGuard } from '../../ports/adapters/notifiers/index.js';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../observability/logger.js';
import { paginate, type Page, type PageRequest } from '../../store/pagination.js';
import { patientAudience, rooms } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import { audited, type Actor } from '../identity/actor.js';
import type { Identity } from '../identity/index.js';
import { STAFF_ROLES } from '../identity/policy.js';
import type { AlertRef, AlertStatus, AlertsApi } from './contract.js';
import type { AlertDelivery, PlannedNotification } from './delivery.js';
import { escalates, nextAfter, quietEnd, range } from './escalation-times.js';
import type { AlertDoc, AlertModels, EscalationPolicyDoc } from './models.js';
import { createAlertNotify } from './notify.js';
import { endpointUrls, policyView, toPolicy, type EscalationPolicy } from './policy.js';
import { createPolicyLookup } from './policy-lookup.js';
import { alertRef, createRaise, moveOnFromUnreached } from './raise.js';
import { createReactivation, lastAcknowledger } from './reactivate.js';
import { createAlertReaders } from './readers.js';
import { createRecipientLookup } from './recipients.js';
import { createResolver } from './resolve.js';
import { toAlertView, toNotificationView, type AlertView } from './views.js';

export { DEFAULT_SEVERITY } from './raise.js';

export interface AlertsQuery extends PageRequest {
  patientId?: string;
  status?: AlertStatus;
}

interface Deps {
  models: AlertModels;
  identity: Identity;
  sockets: SocketTransport;
  delivery: AlertDelivery;
  /** Judges policy endpoint URLs at write time (the notifiers judge them again when they connect). */
  destinations: Pick<DestinationGuard, 'refusesUrl'>;
  clock: Clock;
  logger: Logger;
}

export function createAlertService({ models, identity, sockets, delivery, destinations, clock, logger }: Deps) {
  const { Alert, EscalationPolicy, Notification } = models;
  const { Patient, User } = identity.models;

  const audienceOf = (alert: Pick<AlertDoc, 'organisationId' | 'patientId'>): string[] =>
    alert.patientId ? patientAudience({ id: String(alert.patientId), organisationId: String(alert.organisationId) }) : [rooms.organisationStaff(String(alert.organisationId))];
  const publish = (event: 'alert:raised' | 'alert:updated', alert: AlertDoc): void => sockets.emit(audienceOf(alert), event, toAlertView(alert));

  const policies = createPolicyLookup(EscalationPolicy);
  const notices = createAlertNotify({ recipients: createRecipientLookup(identity.models), readers: createAlertReaders(identity.models, identity.policy), delivery, Patient });
  /** Alerts whose first notice (raise or re-activation) this process is telling: the escalation tick leaves them alone meanwhile. */
  const firstNoticesInFlight = new Set<string>();
  const reactivation = createReactivation({ Alert, notify: notices, publish: (alert) => publish('alert:updated', alert), firstNoticesInFlight, clock, logger });
  /**
   * Runs an escalation tick now (alerts whose first tiers reached nobody), after any tick a raise
   * asked for before. The job's own tick may run alongside it: each move is a guarded update, so
   * an alert moves once whichever tick gets there first.
   */
  let escalating: Promise<unknown> = Promise.resolve();
  const escalateSoon = (): void => {
    escalating = escalating.then(() => escalate()).catch((error: unknown) => logger.error({ err: error }, 'escalation after an unreached tier failed'));
  };
  const raising = createRaise({ Alert, Patient, policies, notify: notices, publish: (alert) => publish('alert:raised', alert), reactivation, escalateSoon, firstNoticesInFlight, clock, logger });

  const effectivePolicy = (organisationId: string, patientId: string | null) => policies.forOne(organisationId, patientId);

  const notify = (alert: AlertDoc, tiers: number[], event: PlannedNotification['event'], skip?: string, alsoTell?: string[]): Promise<AlertDoc[]> => notices.tiers([{ alert, tiers, event, skip, alsoTell }]);

  /**
   * A policy whose endpoint is an address the hub may not reach (loopback, private, link-local…)
   * is refused when written, so its author learns it at once rather than from failed deliveries.
   * Host names are only judged when resolved, at send time.
   */
  const assertEndpointsAllowed = (policy: EscalationPolicy): void => {
    const refused = endpointUrls(policy).filter(({ url }) => destinations.refusesUrl(url));
    if (!refused.length) return;
    const message = 'must not point at a loopback, private, link-local or other non-public address';
    const more = refused.length > 1 ? ` (and ${refused.length - 1} more)` : '';
    throw new AppError('validation_failed', `${refused[0]?.path} ${message}${more}`, { details: refused.map(({ path }) => ({ path, message })) });
  };

  /** What the first notice of tiers held back by quiet hours says: a new alert, or one re-activated. */
  const firstNoticeOf = (alert: AlertDoc): PlannedNotification['event'] => (alert.reactivations?.length ? 'alert.reactivated' : 'alert.raised');
  /** Who that first notice tells besides the tiers: a re-activation's acknowledger, as when it is not held back (reactivate.ts; still subject to readers.ts). */
  const firstNoticeAlsoTells = (alert: AlertDoc): string[] => {
    const by = alert.reactivations?.length ? lastAcknowledger(alert) : null;
    return by ? [by] : [];
  };

  const resolver = createResolver({ Alert, Notification, User, notices, publish: (alert) => publish('alert:updated', alert), clock });
  /** Once resolved, everyone the alert reached hears it is over (see planFollowUp). */
  const followUp = (alert: AlertDoc): Promise<void> => resolver.followUp([alert]);

  /**
   * The escalation tick (job `alerts.escalate`): every active alert whose next escalation time has
   * passed moves one tier up and that tier is notified. The move is a conditional update on
   * {_id, tier, nextEscalationAt}: of two runs (or two instances) only one wins it, so nobody is
   * notified twice. Returns how many alerts moved.
   */
  async function escalate(): Promise<number> {
    const now = clock.now();
    const due = await Alert.find({ status: 'active', nextEscalationAt: { $ne: null, $lte: now } }).sort({ nextEscalationAt: 1 }).limit(500).lean<AlertDoc[]>();
    let moved = 0;
    for (const alert of due) {
      const deferred = alert.notifiedTier < alert.tier;
      // Its raise is telling its first tiers right now (slower than the grace): not told twice.
      if (deferred && firstNoticesInFlight.has(String(alert._id))) continue;
      const target = deferred ? alert.tier : alert.tier + 1;
      const guard: QueryFilter<AlertDoc> = { _id: alert._id, status: 'active' as const, tier: alert.tier, nextEscalationAt: alert.nextEscalationAt };
      // Past the last tier, or an info alert (stored with an escalation pending before info stopped escalating): nothing more to do.
      if (target >= alert.policy.tiers.length || (!deferred && !escalates(alert))) {
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
      const first = alert.notifiedTier < 0;
      const unreached = await notify(won, range(alert.notifiedTier + 1, target), first ? firstNoticeOf(alert) : 'alert.escalated', undefined, first ? firstNoticeAlsoTells(alert) : undefined);
      // Nobody in that tier: the next one is told in this same tick.
      if (await moveOnFromUnreached(Alert, unreached, now, logger)) due.push({ ...won, nextEscalationAt: now });
    }
    if (moved) logger.info({ moved }, 'alerts escalated');
    return moved;
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
    } else if (!STAFF_ROLES.has(principal.role)) throw new AppError('not_found', 'Alert not found');
    return alert;
  }

  /**
   * Acknowledging or resolving an alert is the care team's act: an alert about a patient exists
   * because the patient may not be able to answer for themself (confused, unwell, asleep), so the
   * patient's own ack must not stop their caregivers being told. The one exception is cancelling
   * their own call for help (a button pressed by mistake): resolving it tells everyone it reached.
   */
  function assertCareTeamAct(actor: Actor, alert: AlertDoc, act: 'acknowledge' | 'resolve'): void {
    if (actor.principal.role !== 'patient') return;
    if (act === 'resolve' && alert.type === 'help.requested') return;
    throw new AppError('forbidden', act === 'acknowledge' ? 'Alerts about you are acknowledged by your care team' : 'Only your own call for help can be cancelled by you; other alerts are resolved by your care team');
  }

  const auditAlert = <T>(actor: Actor, action: string, alertId: string | null, run: () => Promise<T>): Promise<T> => audited(identity.audit, actor, { action, objectType: 'alert', objectId: alertId }, run);

  const api: AlertsApi = {
    raise: raising.raise,
    raiseMany: raising.raiseMany,

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
      return alertRef(alert);
    },

    resolveCauses: resolver.resolveCauses,
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
        } else if (!STAFF_ROLES.has(principal.role)) {
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
        const viewer = { userId: actor.principal.userId, staff: STAFF_ROLES.has(actor.principal.role) };
        return { items: docs.map((doc) => toNotificationView(doc, viewer)) };
      }),

    acknowledge: (actor: Actor, alertId: string, note?: string | null) =>
      auditAlert(actor, 'alert.acknowledge', alertId, async () => {
        assertCareTeamAct(actor, await loadAlert(actor, alertId, 'alert.act'), 'acknowledge');
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
        assertCareTeamAct(actor, await loadAlert(actor, alertId, 'alert.act'), 'resolve');
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

    escalate,

    async getOrganisationPolicy(actor: Actor) {
      if (actor.principal.role !== 'admin') throw new AppError('forbidden', 'Only administrators manage the organisation escalation policy');
      const doc = await EscalationPolicy.findOne({ organisationId: new Types.ObjectId(actor.principal.organisationId), patientId: null }).lean<EscalationPolicyDoc>();
      return policyView(toPolicy(doc as never), doc ? 'organisation' : 'default');
    },

    putOrganisationPolicy: (actor: Actor, body: EscalationPolicy) =>
      auditAlert(actor, 'escalationPolicy.update', actor.principal.organisationId, async () => {
        if (actor.principal.role !== 'admin') throw new AppError('forbidden', 'Only administrators manage the organisation escalation policy');
        const policy = toPolicy(body);
        assertEndpointsAllowed(policy);
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
        assertEndpointsAllowed(policy);
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
