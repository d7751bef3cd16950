/**
 * When tiers are told: the tiers an alert starting at tier n tells at once,
 * the end of quiet hours (critical alerts ignore them) and when the next tier
 * is due. Pure functions of the policy copied into the alert.
 */
import type { AlertDoc } from './models.js';
import { quietUntil, type EscalationPolicy } from './policy.js';

/** What these functions read of an alert (a new one is planned before it is stored). */
export type EscalationFacts = Pick<AlertDoc, 'severity' | 'policy'>;

/** from..to inclusive; empty when to < from. */
export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** When quiet hours are in force for this alert at `at`, the instant they end; else null. */
export function quietEnd(alert: EscalationFacts, at: Date): Date | null {
  if (alert.severity === 'critical') return null;
  return quietUntil(alert.policy.quietHours as EscalationPolicy['quietHours'], at, alert.policy.timezone ?? 'UTC');
}

/** When the tier after `tier` is due if nobody acknowledges, counted from `at`; null after the last tier. */
export function nextAfter(alert: EscalationFacts, tier: number, at: Date): Date | null {
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
