/**
 * The rebuild a revived dose owes: a device's event brought a cancelled dose back, so the dose that
 * replaced it must make way. Recorded on the dose by the write that revives it, paid by the next
 * rebuild that stands, and retried every minute until then (`doses.replan-owed`).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { DoseModels } from './models.js';
import type { Rebuild } from './rebuild.js';
import { oid, type Occurrence } from './shared.js';

/**
 * Recorded by the write that revives a cancelled dose: the patient's doses owe a rebuild (paid by
 * the next rebuild that stands, see rebuild), so that neither a failed rebuild nor a hub stopped
 * between the two loses it.
 */
export const owesReplan = (): Pick<Occurrence, 'replanOwed' | 'replanOwedBy'> => ({ replanOwed: true, replanOwedBy: randomUUID() });

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  replanPatient: Rebuild['replanPatient'];
  clock: Clock;
  log: Logger;
}

export function createReplanOwed({ Occurrence, replanPatient, clock, log }: Deps) {
  /**
   * A cancelled dose a device's event brought back: the patient's doses are rebuilt, so that the
   * dose that replaced it that day (when it was cancelled for a far time) makes way, and the devices
   * get the schedule. Should it fail (or give up), the event stands and the dose still owes the
   * rebuild (`replanOwed`): the per-minute job `doses.replan-owed`, any later rebuild of the
   * patient, or this event applied again pays it.
   */
  async function replanAfterRevival(occurrence: Occurrence): Promise<void> {
    log.info({ occurrenceId: String(occurrence._id), patientId: String(occurrence.patientId) }, 'a device’s event brought a cancelled dose back');
    try {
      if (!(await replanPatient(occurrence.patientId))) log.warn({ patientId: String(occurrence.patientId) }, 'the rebuild after a cancelled dose came back gave up; doses.replan-owed tries again');
    } catch (error) {
      log.error({ err: error, patientId: String(occurrence.patientId) }, 'could not rebuild the doses after a cancelled dose came back; doses.replan-owed tries again');
    }
  }

  /** Patients whose owed rebuild failed in this process: how often, and when the job tries again. */
  const owedRetries = new Map<string, { failures: number; nextAt: number }>();

  /**
   * Every minute: the patients whose doses still owe a rebuild after a device brought a cancelled
   * dose back (the rebuild failed or gave up, or the hub stopped before it ran) are rebuilt. Safe
   * twice and on several instances: a rebuild is guarded by the plan's version and zone, and pays
   * only the debts it read.
   */
  async function replanOwed(): Promise<{ patients: number; rebuilt: number }> {
    const now = clock.now().getTime();
    const owed = await Occurrence.find({ replanOwed: true }, { patientId: 1 }).limit(1000).lean<Occurrence[]>();
    // A patient whose rebuild keeps failing waits longer each time (1, 2, 4… up to 60 minutes), so the others are not held up behind it.
    const patients = [...new Set(owed.map((o) => String(o.patientId)))].filter((id) => (owedRetries.get(id)?.nextAt ?? 0) <= now);
    let rebuilt = 0;
    for (const patientId of patients) {
      let stood = false;
      try {
        stood = await replanPatient(oid(patientId));
      } catch (error) {
        log.error({ err: error, patientId }, 'could not rebuild the doses a revived dose owes; tried again later');
      }
      if (stood) {
        rebuilt += 1;
        owedRetries.delete(patientId);
        continue;
      }
      const failures = (owedRetries.get(patientId)?.failures ?? 0) + 1;
      owedRetries.set(patientId, { failures, nextAt: now + Math.min(2 ** (failures - 1), 60) * 60_000 });
    }
    return { patients: patients.length, rebuilt };
  }

  return { replanAfterRevival, replanOwed };
}

export type ReplanOwed = ReturnType<typeof createReplanOwed>;
