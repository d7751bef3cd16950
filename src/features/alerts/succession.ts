/**
 * Alerts that take over from another about the same thing: a dose's
 * `dose.missed` takes over from its `dose.late` (the doses sweep raises the
 * first, then resolves the second). The successor does not start the ladder
 * again: it starts at the tier its predecessor reached and records which alert
 * it follows. The predecessor, handed over, sends no "resolved" follow-up:
 * everyone it reached is told by its successor instead, at the same moment.
 */
import type { Model } from 'mongoose';
import type { AlertType, RaiseAlert } from './contract.js';
import type { AlertDoc } from './models.js';
import { findOpenByCause } from './open-alerts.js';

/** Successor type → the type it takes over from, for the same subject (what follows the type in the cause). */
const PREDECESSOR_TYPE: Partial<Record<AlertType, AlertType>> = { 'dose.missed': 'dose.late' };
const SUCCESSOR_TYPE = new Map(Object.entries(PREDECESSOR_TYPE).map(([successor, predecessor]) => [predecessor, successor]));

/** What a successor needs of its predecessor. */
export type Predecessor = Pick<AlertDoc, '_id' | 'cause' | 'tier'>;

/** `dose.missed:<id>` → `dose.late:<id>`; null when the type has no predecessor or the cause is not `<type>:<subject>`. */
function swapType(cause: string, from: string, to: string | undefined): string | null {
  return to && cause.startsWith(`${from}:`) ? `${to}${cause.slice(from.length)}` : null;
}

export const predecessorCause = (input: Pick<RaiseAlert, 'type' | 'cause'>): string | null => swapType(input.cause, input.type, PREDECESSOR_TYPE[input.type]);

export const successorCause = (alert: Pick<AlertDoc, 'type' | 'cause'>): string | null => swapType(alert.cause, alert.type, SUCCESSOR_TYPE.get(alert.type));

/**
 * The predecessors of new alerts, by the successor's cause, in one query (none when no input has a
 * predecessor type): the latest alert of each predecessor cause, open or resolved — the sweep raises
 * dose.missed before it resolves dose.late, and a retried dose.missed comes after.
 */
export async function findPredecessors(Alert: Model<AlertDoc>, inputs: RaiseAlert[]): Promise<Map<string, Predecessor>> {
  const wanted = new Map(inputs.flatMap((input) => {
    const cause = predecessorCause(input);
    return cause ? [[cause, input.cause] as const] : [];
  }));
  if (!wanted.size) return new Map();
  // By cause alone, open or resolved: answered from the plain cause index (models.ts); only the few fields needed.
  const found = await Alert.find({ cause: { $in: [...wanted.keys()] } }, { cause: 1, tier: 1 }).lean<Predecessor[]>();
  const latest = new Map<string, Predecessor>();
  for (const alert of found) {
    const successor = wanted.get(alert.cause) as string;
    const known = latest.get(successor);
    // ObjectIds as hex compare in creation order (their first bytes are the time): the latest wins.
    if (!known || String(alert._id) > String(known._id)) latest.set(successor, alert);
  }
  return latest;
}

/** The alerts among `alerts` whose successor is open: handed over, so not followed up. */
export async function handedOver(Alert: Model<AlertDoc>, alerts: Pick<AlertDoc, '_id' | 'type' | 'cause'>[]): Promise<Set<string>> {
  const successors = new Map(alerts.flatMap((alert) => {
    const cause = successorCause(alert);
    return cause ? [[cause, String(alert._id)] as const] : [];
  }));
  if (!successors.size) return new Set();
  const open = await findOpenByCause(Alert, [...successors.keys()]);
  return new Set([...open.keys()].map((cause) => successors.get(cause) as string));
}
