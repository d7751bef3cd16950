/**
 * Escalation policies: ordered tiers (who, which channels, how long after the
 * previous tier), optional quiet hours in the patient's time zone (critical
 * alerts ignore them), and the endpoints outside channels use. A patient's
 * own policy replaces the organisation's default; with neither, DEFAULT_POLICY.
 */
import { DateTime } from 'luxon';
import type { NotifyChannel } from '../../ports/notifier.js';

export interface Recipient {
  careTeam?: { priority: number };
  role?: 'admin' | 'clinician' | 'caregiver';
  userId?: string;
}

export interface Tier {
  recipients: Recipient[];
  channels: NotifyChannel[];
  delayMinutes: number;
}

export interface Endpoint {
  url: string;
  secret: string;
}

export interface EscalationPolicy {
  tiers: Tier[];
  quietHours: { start: string; end: string } | null;
  webhooks: Endpoint[];
  sms: Endpoint | null;
  voice: Endpoint | null;
}

/** Priority 1 at once, priority 2 after 10 minutes, the clinicians after 15 more. */
export const DEFAULT_POLICY: EscalationPolicy = Object.freeze({
  tiers: [
    { recipients: [{ careTeam: { priority: 1 } }], channels: ['socket', 'sms'], delayMinutes: 0 },
    { recipients: [{ careTeam: { priority: 2 } }], channels: ['socket', 'sms'], delayMinutes: 10 },
    { recipients: [{ role: 'clinician' }], channels: ['socket', 'sms', 'voice'], delayMinutes: 15 },
  ],
  quietHours: null,
  webhooks: [],
  sms: null,
  voice: null,
}) as EscalationPolicy;

/** The policy fields out of a stored document (mongoose subdocuments → plain data). */
export function toPolicy(doc: Partial<EscalationPolicy> | null | undefined): EscalationPolicy {
  const source = doc ?? DEFAULT_POLICY;
  const plain = JSON.parse(JSON.stringify(source)) as Partial<EscalationPolicy>;
  return {
    tiers: (plain.tiers ?? []).map((tier) => ({
      recipients: (tier.recipients ?? []).map((r) => ({ ...(r.careTeam ? { careTeam: { priority: r.careTeam.priority } } : {}), ...(r.role ? { role: r.role } : {}), ...(r.userId ? { userId: r.userId } : {}) })),
      channels: tier.channels ?? ['socket'],
      delayMinutes: tier.delayMinutes ?? 0,
    })),
    quietHours: plain.quietHours?.start && plain.quietHours.end ? { start: plain.quietHours.start, end: plain.quietHours.end } : null,
    webhooks: (plain.webhooks ?? []).map(({ url, secret }) => ({ url, secret })),
    sms: plain.sms?.url ? { url: plain.sms.url, secret: plain.sms.secret } : null,
    voice: plain.voice?.url ? { url: plain.voice.url, secret: plain.voice.secret } : null,
  };
}

/** What GET answers: endpoint secrets never leave the hub once set. */
export function policyView(policy: EscalationPolicy, source: 'patient' | 'organisation' | 'default') {
  const redact = (endpoint: Endpoint) => ({ url: endpoint.url, secretSet: true });
  return {
    source,
    tiers: policy.tiers,
    quietHours: policy.quietHours,
    webhooks: policy.webhooks.map(redact),
    sms: policy.sms ? redact(policy.sms) : null,
    voice: policy.voice ? redact(policy.voice) : null,
  };
}

/** Every endpoint URL of a policy with its JSON pointer in the request body (schemas/http/escalation-policy.json). */
export function endpointUrls(policy: EscalationPolicy): Array<{ path: string; url: string }> {
  return [
    ...policy.webhooks.map((endpoint, i) => ({ path: `/webhooks/${i}/url`, url: endpoint.url })),
    ...(policy.sms ? [{ path: '/sms/url', url: policy.sms.url }] : []),
    ...(policy.voice ? [{ path: '/voice/url', url: policy.voice.url }] : []),
  ];
}

const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
};

/** Minutes since local midnight in a time zone. */
export function localMinutes(instant: Date, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(instant);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/**
 * When quiet hours are in force at `instant`, the instant they end; else null.
 * Quiet hours may wrap midnight (22:00–07:00). They are in force while the
 * local clock reads a time in [start, end), so they end at the first instant
 * after `instant` at which the local clock in `timezone` reaches `end` — a
 * local time, whatever the night's length: 07:00 CEST on the night clocks go
 * forward, 07:00 CET on the night they go back. An end the change skips
 * (02:30 when 02:00 becomes 03:00) is reached at the change itself; an end the
 * change repeats is reached the first time after `instant`.
 */
export function quietUntil(quiet: EscalationPolicy['quietHours'], instant: Date, timezone: string): Date | null {
  if (!quiet) return null;
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return null;
  const now = localMinutes(instant, timezone);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  return nextLocalTime(instant, end, timezone);
}

const DAY_MS = 24 * 3_600_000;

/** The first instant after `instant` at which the local clock in `zone` reaches `minutes` past midnight. */
function nextLocalTime(instant: Date, minutes: number, zone: string): Date {
  const today = DateTime.fromJSDate(instant, { zone }).startOf('day');
  const after = instant.getTime();
  // Today's or tomorrow's (a day more covers a zone that skipped a whole day).
  for (let days = 0; days <= 2; days += 1) {
    const { year, month, day } = today.plus({ days });
    const at = instantsOfWallTime({ year, month, day, hour: Math.floor(minutes / 60), minute: minutes % 60 }, zone).find((ms) => ms > after);
    if (at !== undefined) return new Date(at);
  }
  throw new Error(`no local time ${minutes} minutes past midnight after ${instant.toISOString()} in ${zone}`);
}

type Wall = { year: number; month: number; day: number; hour: number; minute: number };

const offsetAt = (ms: number, zone: string): number => DateTime.fromMillis(ms, { zone }).offset;

/**
 * The instants at which the local clock reaches a wall time, earliest first: one on most days, two
 * when clocks go back over it, and when clocks go forward over it, the instant of the change (the
 * clock passes it there without reading it).
 */
function instantsOfWallTime(wall: Wall, zone: string): number[] {
  // The wall time's digits read as UTC; the zone's offsets (minutes) around it, a day either side.
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute);
  const offsets = [...new Set([offsetAt(asUtc - DAY_MS, zone), offsetAt(asUtc, zone), offsetAt(asUtc + DAY_MS, zone)])];
  const reads = (ms: number): boolean => {
    const local = DateTime.fromMillis(ms, { zone });
    return local.year === wall.year && local.month === wall.month && local.day === wall.day && local.hour === wall.hour && local.minute === wall.minute;
  };
  const exact = [...new Set(offsets.map((offset) => asUtc - offset * 60_000))].filter(reads).sort((a, b) => a - b);
  if (exact.length) return exact;
  // Skipped: read with the larger offset the wall time is an instant before the change, with the
  // smaller one an instant after it. The change is found between them (to the millisecond).
  let before = asUtc - Math.max(...offsets) * 60_000;
  let after = asUtc - Math.min(...offsets) * 60_000;
  const offsetBefore = offsetAt(before, zone);
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (offsetAt(middle, zone) === offsetBefore) before = middle;
    else after = middle;
  }
  return [after];
}
