/**
 * A dispenser's dose events → the doses they name: matched by occurrenceId (only the patient's
 * own) or by slot and dueAt, then dispensed, taken, skipped or missed — taking stock once per
 * dispense, and bringing back a cancelled dose whose pills left the device.
 */
import { Types } from 'mongoose';
import type { Logger } from '../../observability/logger.js';
import type { Clock } from '../../ports/clock.js';
import type { AlertsApi } from '../alerts/contract.js';
import type { DeviceIdentity } from '../devices/directory.js';
import type { DeviceEventDoc } from '../devices/models.js';
import type { LateAlerts } from './late-alerts.js';
import { missedCause, type MissedAlerts } from './missed-alerts.js';
import type { DoseModels, DoseState } from './models.js';
import type { PlannedPatients } from './planned-patients.js';
import { owesReplan, type ReplanOwed } from './replan-owed.js';
import { HOUR, MINUTE, type Occurrence } from './shared.js';
import type { Stock } from './stock.js';
import type { Transitions } from './transitions.js';

/** States a device event may name a dose in when it names it by slot and dueAt: doses still open. */
const OPEN_TO_EVENTS: readonly DoseState[] = ['scheduled', 'due', 'unknown'];
/** A taken or dispensed dose also reconciles a missed one (taken late). */
const RECONCILED_BY: ReadonlySet<string> = new Set(['dose.taken', 'dose.dispensed']);

interface Deps {
  Occurrence: DoseModels['Occurrence'];
  plannedPatients: PlannedPatients;
  alerts: AlertsApi;
  lateAlerts: LateAlerts;
  transition: Transitions['transition'];
  recordTaken: Transitions['recordTaken'];
  raiseMissed: MissedAlerts['raiseMissed'];
  takesStockOnce: Stock['takesStockOnce'];
  decrementStock: Stock['decrementStock'];
  replanAfterRevival: ReplanOwed['replanAfterRevival'];
  clock: Clock;
  log: Logger;
}

/**
 * When a device event happened, for the dose it settles: its `at`, but never after the hub received
 * it. A device clock running ahead (it is corrected by sync_time only past a minute) must not put a
 * dispense after the confirmation that followed it.
 */
const happenedAt = (event: Pick<DeviceEventDoc, 'at' | 'receivedAt'>): Date => (event.at.getTime() > event.receivedAt.getTime() ? event.receivedAt : event.at);

export function createDeviceEvents({ Occurrence, plannedPatients, alerts, lateAlerts, transition, recordTaken, raiseMissed, takesStockOnce, decrementStock, replanAfterRevival, clock, log }: Deps) {
  /**
   * The dose an event names by its occurrenceId: undefined when it names none, null when the dose
   * it names is not its patient's — unknown, or another patient's (a dispenser moved to another
   * patient sends the events its outbox held for the previous one, tagged with the new patient).
   */
  async function namedOccurrence(device: DeviceIdentity, event: DeviceEventDoc): Promise<Occurrence | null | undefined> {
    const occurrenceId = (event.payload as Record<string, unknown>).occurrenceId;
    if (typeof occurrenceId !== 'string') return undefined;
    if (!device.patientId || !Types.ObjectId.isValid(occurrenceId)) return null;
    return Occurrence.findOne({ _id: new Types.ObjectId(occurrenceId), patientId: device.patientId }).lean<Occurrence>();
  }

  /** An event that names no dose by occurrenceId: the dose of its slot nearest its dueAt, if any. */
  async function matchBySlot(device: DeviceIdentity, event: DeviceEventDoc): Promise<Occurrence | null> {
    const patientId = device.patientId;
    if (!patientId) return null;
    const payload = event.payload as Record<string, unknown>;
    // A dose dispensed by a command (dispense_now) is an extra dose: without its occurrenceId it is none of the scheduled ones.
    if (typeof payload.commandId === 'string' || typeof payload.slot !== 'number') return null;
    // The device's dueAt names the dose; its `at` is when something happened, maybe well before or after.
    const reference = typeof payload.dueAt === 'string' ? new Date(payload.dueAt) : happenedAt(event);
    const states: DoseState[] = RECONCILED_BY.has(event.type) ? [...OPEN_TO_EVENTS, 'missed'] : [...OPEN_TO_EVENTS];
    const candidates = await Occurrence.find({ patientId, slot: payload.slot, state: { $in: states }, dueAt: { $gte: new Date(reference.getTime() - 12 * HOUR), $lte: new Date(reference.getTime() + 12 * HOUR) } }).lean<Occurrence[]>();
    // The reference must fall in the occurrence's window; the nearest dueAt wins.
    let best: Occurrence | null = null;
    for (const candidate of candidates) {
      const delta = reference.getTime() - candidate.dueAt.getTime();
      const inWindow = delta >= -candidate.window.earlyMinutes * MINUTE && delta <= candidate.window.missedAfterMinutes * MINUTE;
      if (!inWindow) continue;
      if (!best || Math.abs(delta) < Math.abs(reference.getTime() - best.dueAt.getTime())) best = candidate;
    }
    return best;
  }

  /**
   * A failure here fails the event: the device gets no ack and resends it, and the resend, though
   * stored already, is applied again (devices' ingest). Applying an event again changes nothing
   * it already changed: state transitions are guarded by the state, and a dispense takes stock
   * once per event (StockTaken).
   */
  async function onDeviceEvent(device: DeviceIdentity, event: DeviceEventDoc): Promise<void> {
    if (!event.type.startsWith('dose.') || !device.patientId) return;
    if (!(await plannedPatients.has(String(device.patientId)))) {
      log.debug({ deviceId: device._id, eventId: event.eventId, type: event.type }, 'dose event for a patient without a plan');
      return;
    }
    try {
      await applyDeviceEvent(device, event);
    } catch (error) {
      log.warn({ err: error, deviceId: device._id, eventId: event.eventId }, 'dose event could not be applied; the device will send it again');
      throw error;
    }
  }

  async function applyDeviceEvent(device: DeviceIdentity, event: DeviceEventDoc): Promise<void> {
    const payload = event.payload as Record<string, unknown>;
    const named = await namedOccurrence(device, event);
    if (named === null) {
      // Never matched by slot instead: that would settle (and take the stock of) another dose of this patient.
      log.warn({ deviceId: device._id, eventId: event.eventId, type: event.type, occurrenceId: payload.occurrenceId }, 'dose event names a dose that is not its patient’s; ignored');
      return;
    }
    if (event.type === 'dose.dispensed' && (await takesStockOnce(event))) await decrementStock(device, payload);
    const occurrence = named ?? (await matchBySlot(device, event));
    if (!occurrence) {
      log.info({ deviceId: device._id, eventId: event.eventId, type: event.type }, 'dose event matches no occurrence');
      return;
    }
    const fields = { source: 'device', eventId: event.eventId };
    switch (event.type) {
      case 'dose.dispensed': {
        if (occurrence.state === 'cancelled' && (await reviveDispensed(occurrence, event))) {
          await replanAfterRevival(occurrence);
          break;
        }
        await Occurrence.updateOne({ _id: occurrence._id, dispensedAt: null }, { $set: { dispensedAt: happenedAt(event) } });
        // Applied again (a resend, the devices' recovery sweep): the rebuild its revival still owes is tried again.
        if (occurrence.replanOwed) await replanAfterRevival(occurrence);
        break;
      }
      case 'dose.taken': {
        // A cancelled dose is reached only by its occurrenceId: the device dispensed it from a schedule it held, and the patient took it.
        const taken = await recordTakenByDevice(occurrence, happenedAt(event), fields);
        if (taken?.before.state === 'cancelled' || occurrence.replanOwed) await replanAfterRevival(occurrence);
        break;
      }
      case 'dose.skipped': {
        const skipped = await transition(occurrence._id, ['scheduled', 'due', 'missed', 'unknown'], { state: 'skipped', ...fields });
        if (skipped?.before.state === 'missed') {
          await alerts.resolveCause(missedCause(occurrence._id), 'skipped').catch((error: unknown) => log.warn({ err: error, occurrenceId: String(occurrence._id) }, 'could not resolve dose.missed of a dose reported skipped; it stays open'));
        }
        if (skipped) await lateAlerts.resolve([skipped.after], 'skipped');
        break;
      }
      case 'dose.missed': {
        const reason = typeof payload.reason === 'string' ? payload.reason : 'not_taken';
        const missed = await transition(occurrence._id, ['scheduled', 'due', 'unknown'], { state: 'missed', evidence: `device:${reason}`, ...fields });
        if (missed) await raiseMissed(missed.after);
        if (missed) await lateAlerts.resolve([missed.after], 'missed');
        break;
      }
    }
  }

  /**
   * A dose.dispensed naming a cancelled dose (a schedule the device held before the plan changed):
   * its pills left the device, so it is a dose again — under way as if never cancelled (scheduled
   * before its time, due in its window), or unknown when its window has closed (nobody knows yet
   * whether the patient took it; a dose.taken makes it late). Answers whether it was revived.
   */
  async function reviveDispensed(occurrence: Occurrence, event: DeviceEventDoc): Promise<boolean> {
    const now = clock.now();
    const state: DoseState = now < occurrence.dueAt ? 'scheduled' : now < occurrence.missedAt ? 'due' : 'unknown';
    const revived = await transition(occurrence._id, ['cancelled'], { state, source: 'device', eventId: event.eventId, dispensedAt: occurrence.dispensedAt ?? happenedAt(event), ...owesReplan() });
    return revived !== null;
  }

  /**
   * A device's dose.taken: taken or late, from a state a dose.taken settles or from `cancelled` (a
   * revival, which then owes a rebuild, recorded by the same write). Each write is guarded by the
   * states it leaves; the dose may move between them meanwhile (a plan change cancelling it, its
   * dose.dispensed reviving it), so each is tried again once it may apply. A revived dose is
   * dispensed and never cancelled again, so three writes at most.
   */
  async function recordTakenByDevice(occurrence: Occurrence, at: Date, fields: Partial<Occurrence>): Promise<{ before: Occurrence; after: Occurrence } | null> {
    const order = occurrence.state === 'cancelled' ? ['revive', 'settle'] : ['settle', 'revive', 'settle'];
    for (const step of order) {
      const taken = step === 'revive' ? await recordTaken(occurrence, at, { ...fields, ...owesReplan() }, ['cancelled']) : await recordTaken(occurrence, at, fields);
      if (taken) return taken;
    }
    return null;
  }

  return { onDeviceEvent };
}
