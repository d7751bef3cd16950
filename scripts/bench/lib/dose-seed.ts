/**
 * Seeds the dose sweep benchmark directly through the hub's models (REST would
 * take hours for 10,000 patients): patients in Europe/Paris, each with a
 * dispenser (9 in 10 online since the day before, 1 in 10 offline), a plan of
 * 4 doses a day and the occurrences of `days` days, and a care team — the
 * watching caregiver (whose socket the latency is measured on) on patients
 * 1, 1 + watchEvery, 1 + 2·watchEvery… (a prime such as 97 spreads them over
 * every minute offset and the online/offline mix), and, unless `ownCaregivers` is false, a caregiver
 * of their own for every other patient, so that every alert has someone to
 * notify (socket and SMS, as the built-in policy says).
 */
import { Types } from 'mongoose';
import { expandItems } from '../../../src/features/doses/expand.js';
import { DEFAULT_WINDOWS, minuteOf } from '../../../src/features/doses/models.js';
import type { Hub } from '../../../src/hub.js';

export const ZONE = 'Europe/Paris';
export const TIMES = ['08:00', '12:00', '18:00', '22:00'];
export const START = '2026-11-23';
const BATCH = 500;

export interface DoseSeedOptions {
  organisationId: string;
  patients: number;
  days: number;
  /** Patient i's dose times are shifted by i % spread minutes: 1 = everyone at the same minute (the worst case). */
  spread: number;
  /** The caregiver who watches (priority 1 on patients 1, 1 + watchEvery, …). */
  watcherId: string;
  watchEvery: number;
  ownCaregivers: boolean;
}

/** "08:00" shifted by `offset` minutes. */
function shifted(offset: number): string[] {
  return TIMES.map((time) => {
    const [h, m] = time.split(':').map(Number) as [number, number];
    const total = h * 60 + m + offset;
    return `${String(Math.floor(total / 60) % 24).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
  });
}

/** Seeds everything; answers the doses of patient 0 (the first two are the 08:00 and 12:00 ones) and the watched patients' ids. */
export async function seedDoses(hub: Hub, options: DoseSeedOptions): Promise<{ doses: { dueAt: Date }[]; watched: string[] }> {
  const { Patient, User, CareTeam } = hub.features.identity.models;
  const { Device } = hub.features.devices.models;
  const { Plan, Occurrence } = hub.features.doses.models;
  const organisationId = new Types.ObjectId(options.organisationId);
  const watcherId = new Types.ObjectId(options.watcherId);
  const before = new Date('2026-11-22T00:00:00Z');
  const expansions = new Map<number, ReturnType<typeof expandItems>>();
  const dosesFor = (offset: number) => {
    let cached = expansions.get(offset);
    if (!cached) expansions.set(offset, (cached = expandItems([{ id: 'daily', medicationId: 'm1', times: shifted(offset), startDate: START }], ZONE, new Date(`${START}T00:00:00Z`), new Date(Date.parse(`${START}T00:00:00Z`) + options.days * 86_400_000 - 3_600_000))));
    return cached;
  };
  const watched: string[] = [];

  for (let first = 0; first < options.patients; first += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, options.patients - first) }, () => new Types.ObjectId());
    const index = (i: number): number => first + i;
    const isWatched = (i: number): boolean => (index(i) - 1) % options.watchEvery === 0;
    await Patient.insertMany(ids.map((_id, i) => ({ _id, organisationId, name: `Patient ${index(i)}`, timezone: ZONE })), { lean: true });
    await Device.insertMany(
      ids.map((patientId, i) => ({ _id: `bench-${index(i)}`, organisationId, patientId, serial: `SN-${index(i)}`, secretHash: 'x', disabled: false, heartbeatTimeoutSeconds: 86_400 * 30, status: { online: Math.floor(index(i) / options.spread) % 10 !== 0, changedAt: before, lastSeenAt: before } })),
      { lean: true },
    );
    const planIds = ids.map(() => new Types.ObjectId());
    await Plan.insertMany(
      ids.map((patientId, i) => ({
        _id: planIds[i],
        organisationId,
        patientId,
        timezone: ZONE,
        windows: DEFAULT_WINDOWS,
        medications: [{ id: 'm1', name: 'Metformin', slot: 1, pillsPerDose: 1, stock: 200, criticality: 'normal' }],
        schedule: [{ id: 'daily', medicationId: 'm1', times: shifted(index(i) % options.spread), startDate: START }],
        generatedUntil: new Date(`${START}T00:00:00Z`),
      })),
      { lean: true },
    );
    await Occurrence.insertMany(
      ids.flatMap((patientId, i) =>
        dosesFor(index(i) % options.spread).map((dose) => ({
          organisationId,
          patientId,
          planId: planIds[i],
          itemId: dose.itemId,
          medicationId: 'm1',
          slot: 1,
          pills: 1,
          critical: false,
          dueAt: dose.dueAt,
          localDate: dose.localDate,
          window: DEFAULT_WINDOWS,
          missedAt: new Date(dose.dueAt.getTime() + DEFAULT_WINDOWS.missedAfterMinutes * 60_000),
          dueMinute: minuteOf(dose.dueAt),
          missedMinute: minuteOf(dose.dueAt) + DEFAULT_WINDOWS.missedAfterMinutes,
          lateMinute: minuteOf(dose.dueAt) + DEFAULT_WINDOWS.lateAfterMinutes,
          state: 'scheduled',
          changedAt: before,
        })),
      ),
      { lean: true },
    );

    // Care teams: the watcher where it watches, else (optionally) a caregiver of the patient's own.
    const own = options.ownCaregivers ? ids.map((_, i) => (isWatched(i) ? null : new Types.ObjectId())) : ids.map(() => null);
    const newUsers = own.flatMap((userId, i) => (userId ? [{ _id: userId, organisationId, email: `caregiver-${index(i)}@bench.invalid`, name: `Caregiver ${index(i)}`, role: 'caregiver', passwordHash: '!', phone: `+3361${String(index(i)).padStart(7, '0')}` }] : []));
    if (newUsers.length) await User.insertMany(newUsers);
    const links = ids.flatMap((patientId, i) => {
      const userId = isWatched(i) ? watcherId : own[i];
      return userId ? [{ organisationId, patientId, userId, relation: 'family', priority: 1 }] : [];
    });
    if (links.length) await CareTeam.insertMany(links);
    for (const [i, id] of ids.entries()) if (isWatched(i)) watched.push(String(id));
  }
  return { doses: dosesFor(0) as unknown as { dueAt: Date }[], watched };
}
