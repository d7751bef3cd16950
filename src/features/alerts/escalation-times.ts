/**
 * When tiers are told: the tiers an alert starting at tier n tells at once,
 * the end of quiet hours (critical alerts ignore them) and when the next tier
 * is due. Pure functions of the policy copied into the alert.
 */
import type { AlertType, RaiseAlert } from './contract.js';
import type { AlertDoc } from './models.js';
import { quietUntil, type EscalationPolicy } from './policy.js';

/** What these functions read of an alert (a new one is planned before it is stored). */
export type EscalationFacts = Pick<AlertDoc, 'severity' | 'policy'>;

/** help.requested tells the first two tiers at once. */
const DEFAULT_START_TIER: Partial<Record<AlertType, number>> = { 'help.requested': 1 };

/** The tier an alert starts at (the raiser's, else its type's default), within the policy's tiers. */
export function startingTier(input: Pick<RaiseAlert, 'type' | 'startTier'>, policy: { tiers: ArrayLike<unknown> }): number {
  return Math.max(0, Math.min(input.startTier ?? DEFAULT_START_TIER[input.type] ?? 0, policy.tiers.length - 1));
}

/** from..to inclusive; empty when to < from. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** When quiet hours are in force for this alert at `at`, the instant they end; else null. */
export function quietEnd(alert: EscalationFacts, at: Date): Date | null {
  if (alert.severity === 'critical') return null;
  return quietUntil(alert.policy.quietHours as EscalationPolicy['quietHours'], at, alert.policy.timezone ?? 'UTC');
}

/**
 * Whether an unacknowledged alert moves up the tiers. An `info` alert (a dose running late) is news
 * for the tiers it starts at, not a reason to wake the next person: it never escalates. What it is
 * about escalates through its successor instead (dose.missed, see raise.ts).
 */
export const escalates = (alert: Pick<AlertDoc, 'severity'>): boolean => alert.severity !== 'info';

/** When the tier after `tier` is due if nobody acknowledges, counted from `at`; null after the last tier, and for an alert that does not escalate. */
export function nextAfter(alert: EscalationFacts, tier: number, at: Date): Date | null {
  if (!escalates(alert)) return null;
  const next = alert.policy.tiers[tier + 1];
  return next ? new Date(at.getTime() + (next.delayMinutes ?? 0) * 60_000) : null;
}

/**
 * The escalation fields of a new alert at tier `tier`, raised at `now`: tiers 0..tier are told at
 * once, or, during quiet hours, recorded as suppressed and told when quiet hours end.
 */
export function escalationStart(alert: EscalationFacts, tier: number, now: Date): { notifiedTier: number; nextEscalationAt: Date | null; skip?: 'quiet_hours' } {
  if (!alert.policy.tiers.length) return { notifiedTier: -1, nextEscalationAt: null };
  const quiet = quietEnd(alert, now);
  if (quiet) return { notifiedTier: -1, nextEscalationAt: quiet, skip: 'quiet_hours' };
  return { notifiedTier: tier, nextEscalationAt: nextAfter(alert, tier, now) };
}
