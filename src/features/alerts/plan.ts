/**
 * What to send for an alert, as data: one planned notification per channel and
 * recipient of each tier told (webhooks once per tier), and the follow-up once
 * it is resolved. Pure: the recipients come from the RecipientLookup; the
 * delivery records and sends what is planned here.
 */
import { endpointLabel, legacyEndpointLabel, type PlannedNotification } from './delivery.js';
import type { AlertDoc, NotificationDoc } from './models.js';
import type { RecipientUser } from './recipients.js';

export type PlanSubject = Pick<AlertDoc, '_id' | 'organisationId' | 'policy'>;

/** Notifications for `tiers` of an alert; `skip` records them without sending (quiet hours). */
export function planTiers(alert: PlanSubject, tiers: number[], usersOf: (tier: number) => RecipientUser[], event: PlannedNotification['event'], skip?: string): PlannedNotification[] {
  const policy = alert.policy;
  const planned: PlannedNotification[] = [];
  for (const tierIndex of tiers) {
    const tier = policy.tiers[tierIndex];
    if (!tier) continue;
    const users = usersOf(tierIndex);
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

export type Reached = Pick<NotificationDoc, 'channel' | 'userId' | 'endpoint' | 'tier'>;

/**
 * A follow-up once an alert is resolved: everyone it reached (delivered notifications) hears that
 * it is over, once per channel and recipient, so nobody drives over for a dose taken after all.
 */
export function planFollowUp(alert: PlanSubject, reached: Reached[], phoneOf: (userId: string) => string | null): PlannedNotification[] {
  const seen = new Set<string>();
  const planned: PlannedNotification[] = [];
  for (const sent of reached) {
    const key = `${sent.channel}|${sent.userId ?? ''}|${sent.endpoint ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const base = { alertId: alert._id, organisationId: alert.organisationId, tier: sent.tier, event: 'alert.resolved' as const, channel: sent.channel };
    if (sent.channel === 'webhook') {
      const endpoint = (alert.policy.webhooks ?? []).find((w) => endpointLabel(w.url) === sent.endpoint || legacyEndpointLabel(w.url) === sent.endpoint);
      if (endpoint) planned.push({ ...base, target: { url: endpoint.url, secret: endpoint.secret } });
    } else if (sent.userId) {
      // A phone call to say "never mind" helps nobody: voice recipients get no follow-up.
      if (sent.channel === 'voice') continue;
      const gateway = sent.channel === 'sms' ? alert.policy.sms : null;
      planned.push({ ...base, target: { userId: sent.userId, phone: phoneOf(sent.userId), url: gateway?.url ?? null, secret: gateway?.secret ?? null } });
    }
  }
  return planned;
}
