/**
 * Tells the tiers of alerts: finds the recipients, plans one notification per
 * channel and recipient, and hands them to the delivery with the message that
 * may leave the hub (initials, never a name). Works on a batch so a sweep's
 * thousands of new alerts cost the same few store round trips as one.
 */
import { Types } from 'mongoose';
import type { IdentityModels, PatientDoc } from '../identity/models.js';
import type { AlertDelivery, AlertMessage, PlannedNotification } from './delivery.js';
import type { AlertDoc } from './models.js';
import { planTiers } from './plan.js';
import type { AlertReaders } from './readers.js';
import type { RecipientLookup } from './recipients.js';
import { initialsOf } from './views.js';

export interface TierNotice {
  alert: AlertDoc;
  tiers: number[];
  event: PlannedNotification['event'];
  /** Record without sending, e.g. quiet_hours. */
  skip?: string;
  /**
   * Users told on the socket as well when the tiers do not name them: whoever acknowledged an alert
   * that is now re-activated hears of it even when their tier is above the one it starts at again.
   * Only those who may still read the alert (readers.ts): an account disabled, moved to another
   * organisation or no longer on the patient's care team is told nothing.
   */
  alsoTell?: string[];
}

/** Patients' names by id, for the initials a message carries. */
export type PatientNames = Map<string, string | null | undefined>;

export function messageOf(alert: AlertDoc, patientName: string | null | undefined): AlertMessage {
  return {
    alertId: String(alert._id),
    organisationId: String(alert.organisationId),
    patientId: alert.patientId ? String(alert.patientId) : null,
    patientInitials: initialsOf(patientName),
    type: alert.type,
    severity: alert.severity,
    raisedAt: new Date(alert.raisedAt).toISOString(),
    link: `/api/v1/alerts/${String(alert._id)}`,
  };
}

interface Deps {
  recipients: RecipientLookup;
  readers: AlertReaders;
  delivery: AlertDelivery;
  Patient: IdentityModels['Patient'];
}

/** A socket notification at the alert's tier for each of `userIds` the planned notifications do not already reach on the socket. */
function planSocketFor(alert: AlertDoc, userIds: string[], planned: PlannedNotification[], event: PlannedNotification['event'], skip?: string): PlannedNotification[] {
  const reached = new Set(planned.filter((p) => p.channel === 'socket').map((p) => p.target.userId));
  return [...new Set(userIds)].filter((userId) => !reached.has(userId)).map((userId) => ({ alertId: alert._id, organisationId: alert.organisationId, tier: alert.tier, event, channel: 'socket', target: { userId }, skip }));
}

export function createAlertNotify({ recipients, readers, delivery, Patient }: Deps) {
  async function patientNames(alerts: AlertDoc[]): Promise<PatientNames> {
    const ids = [...new Set(alerts.flatMap((a) => (a.patientId ? [String(a.patientId)] : [])))];
    if (!ids.length) return new Map();
    const patients = await Patient.find({ _id: { $in: ids.map((id) => new Types.ObjectId(id)) } }, { name: 1 }).lean<PatientDoc[]>();
    return new Map(patients.map((p) => [String(p._id), p.name]));
  }

  /** Records and sends already planned notifications, one batch per alert. `names` saves the patient lookup when the caller has them. */
  async function send(batches: { alert: AlertDoc; planned: PlannedNotification[] }[], names?: PatientNames): Promise<void> {
    const nonEmpty = batches.filter((b) => b.planned.length);
    if (!nonEmpty.length) return;
    const known = names ?? (await patientNames(nonEmpty.map((b) => b.alert)));
    await delivery.sendMany(nonEmpty.map(({ alert, planned }) => ({ planned, message: messageOf(alert, alert.patientId ? known.get(String(alert.patientId)) : null) })));
  }

  /**
   * Tells the given tiers of every alert. Answers the alerts told now (not held back) whose notice
   * reached nobody: no recipient on any channel of those tiers that a notification can go out to
   * (an SMS tier without a gateway, recipients without a phone), and no webhook — the tier after
   * them should not wait its delay.
   */
  async function tiers(notices: TierNotice[], names?: PatientNames): Promise<AlertDoc[]> {
    const wanted = notices.filter((n) => n.tiers.length);
    if (!wanted.length) return [];
    // The few notices naming users outside their tiers (re-activations) have them checked; the rest cost nothing more.
    const [usersOf, extra] = await Promise.all([recipients.forMany(wanted), Promise.all(wanted.map(({ alert, alsoTell }) => (alsoTell?.length ? readers.among(alert, alsoTell) : [])))]);
    const batches = wanted.map(({ alert, tiers: told, event, skip }, i) => {
      const planned = planTiers(alert, told, (tier) => usersOf(alert, tier), event, skip);
      return { alert, skip, planned: [...planned, ...planSocketFor(alert, extra[i] ?? [], planned, event, skip)] };
    });
    await send(batches, names);
    // Reached nobody: nothing planned, or only notifications that cannot go out (no SMS gateway, no phone).
    return batches.filter(({ skip, planned }) => skip === undefined && planned.every((p) => p.skip !== undefined)).map(({ alert }) => alert);
  }

  return { tiers, send };
}

export type AlertNotify = ReturnType<typeof createAlertNotify>;
