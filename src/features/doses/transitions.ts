/**
 * A dose's state changes, one compare-and-set write each, told to the patient's audience as they
 * happen; and a dose taken (by a device or a person), which settles its missed and late alerts.
 */
import type { QueryFilter, Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import { patientAudience } from '../../transports/socket/rooms.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { AlertsApi } from '../alerts/contract.js';
import { lateAt, type LateAlerts } from './late-alerts.js';
import { missedCause } from './missed-alerts.js';
import type { DoseModels, DoseState } from './models.js';
import type { Occurrence } from './shared.js';
import { toOccurrenceView } from './views.js';

/** States a dose.taken or a confirmation settles. */
const TAKEABLE: readonly DoseState[] = ['scheduled', 'due', 'missed', 'unknown'];

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  sockets: Pick<SocketTransport, 'emit'>;
  alerts: AlertsApi;
  lateAlerts: LateAlerts;
  clock: Clock;
  log: Logger;
}

export function createTransitions({ Occurrence, sockets, alerts, lateAlerts, clock, log }: Deps) {
  function emit(occurrence: Occurrence): void {
    sockets.emit(patientAudience({ id: String(occurrence.patientId), organisationId: String(occurrence.organisationId) }), 'dose:updated', toOccurrenceView(occurrence));
  }

  /**
   * Moves one occurrence from one of `from` to a new state (compare-and-set). Answers the document
   * as it was just before this write and as it is after it, or null when it was in no state of `from`:
   * what the write changed is known from `before`, not from an earlier read another writer (the
   * sweep) may have overtaken.
   */
  async function transition(id: Types.ObjectId, from: readonly DoseState[], set: Partial<Occurrence> & { state: DoseState }, where: QueryFilter<Occurrence> = {}): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const change = { ...set, changedAt: clock.now() };
    const before = await Occurrence.findOneAndUpdate({ ...where, _id: id, state: { $in: from } }, { $set: change }, { returnDocument: 'before' }).lean<Occurrence>();
    if (!before) return null;
    const after: Occurrence = { ...before, ...change };
    emit(after);
    return { before, after };
  }

  /**
   * A dose taken at `at` (device or confirmation): taken on time, or late after the late threshold.
   * `from`: the states it may leave (a device's dose.taken also settles a cancelled dose it names).
   */
  async function recordTaken(occurrence: Occurrence, at: Date, fields: Partial<Occurrence>, from: readonly DoseState[] = TAKEABLE): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const state: DoseState = at.getTime() > lateAt(occurrence) ? 'late' : 'taken';
    const changed = await transition(occurrence._id, from, { state, takenAt: at, ...fields });
    if (!changed) return null;
    // Missed as this write found it (the sweep may have made it missed after `occurrence` was read).
    if (changed.before.state === 'missed') {
      await alerts.resolveCause(missedCause(occurrence._id), 'taken late').catch((error: unknown) => log.error({ err: error, occurrenceId: String(occurrence._id) }, 'could not resolve dose.missed'));
    }
    // The document as updated: it shows a dose.late the sweep raised after `occurrence` was read.
    await lateAlerts.resolve([changed.after], 'taken');
    return changed;
  }

  return { emit, transition, recordTaken };
}

export type Transitions = ReturnType<typeof createTransitions>;
