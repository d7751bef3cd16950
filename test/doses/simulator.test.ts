/**
 * A day driven by the dispenser simulator: the hub's clock *is* the simulator's clock (one
 * simulated hour per real second), so the device dispenses and reports at the hub's times.
 */
import t from 'tap';
import { SimulatedDispenser, type SimClock } from '../../firmware-sim/index.js';
import type { Clock } from '../../src/ports/clock.js';
import { careScenario } from '../helpers/factories.js';
import { eventually, provisionDevice } from '../helpers/devices.js';
import { as, startDoseHub, twoMedicationPlan } from './helpers.js';

const SPEED = 3600;

/** Simulated time shared by the hub and the device: frozen while the test sets up (tokens live 15 simulated minutes), then running at SPEED. */
function sharedClock(startAt: number): { sim: SimClock; hub: Clock; run(): void } {
  let realStart: number | null = null;
  const now = (): number => (realStart === null ? startAt : startAt + (Date.now() - realStart) * SPEED);
  return { sim: { speed: SPEED, now }, hub: { now: () => new Date(Math.floor(now())) }, run: () => void (realStart = Date.now()) };
}

for (const scenario of ['adherent', 'forgetful'] as const) {
  t.test(`a simulated ${scenario} day`, async (t) => {
    const clock = sharedClock(Date.parse('2026-06-10T05:30:00Z'));
    const hub = await startDoseHub(t, clock.hub);
    const s = await careScenario(hub);
    const provisioned = await provisionDevice(hub, s.clinician, { patientId: s.patient.id, heartbeatTimeoutSeconds: 86_400 });
    const device = new SimulatedDispenser({
      id: provisioned.id,
      secret: provisioned.secret,
      url: hub.urls.mqtt,
      clock: clock.sim,
      scenario,
      scenarioOptions: { missRate: 1 },
      heartbeatSeconds: 60,
      slots: { count: 2, pillsPerSlot: 30 },
    });
    t.teardown(() => device.stop({ graceful: false }));
    await device.start();
    await eventually(async () => (await hub.features.devices.models.Device.findById(provisioned.id).lean())?.status?.online === true);
    const created = await as(hub, s.clinician, 'POST', `/patients/${s.patient.id}/medication-plans`, twoMedicationPlan('2026-06-10', { stock: 30 }));
    t.equal(created.status, 201);
    clock.run();

    const { Occurrence } = hub.features.doses.models;
    const today = () => Occurrence.find({ patientId: s.patient.id, localDate: '2026-06-10' }).sort({ dueAt: 1 }).lean();
    // Sweep as the job would, until the evening dose's window (18:00Z + 60 min) has closed.
    const sweeper = setInterval(() => void hub.features.doses.service.sweep().catch(() => undefined), 50);
    t.teardown(() => clearInterval(sweeper));
    const expected = scenario === 'adherent' ? 'taken' : 'missed';
    // A device's events are applied side by side: its dose.taken may settle a dose while the
    // dose.dispensed sent before it is still being applied (stock, then the dose), so an adherent
    // day is over once every dose is taken *and* dispensed.
    const over = (d: { state: string; dispensedAt?: Date | null }) => d.state === expected && (scenario === 'forgetful' || Boolean(d.dispensedAt));
    const settled = await eventually(async () => {
      const doses = await today();
      return doses.length === 3 && doses.every(over) && doses;
    }, 30_000);
    clearInterval(sweeper);
    t.same(settled.map((d) => d.state), [expected, expected, expected], `${scenario}: every dose ${expected}`);
    if (scenario === 'adherent') {
      t.ok(settled.every((d) => d.source === 'device' && d.dispensedAt), 'taken from the device, after it dispensed');
      const plan = await hub.features.doses.models.Plan.findOne({ patientId: s.patient.id }).lean();
      t.equal(plan?.medications.find((m) => m.id === 'metformin')?.stock, 28, 'two metformin doses dispensed');
    } else {
      t.ok(settled.every((d) => d.evidence?.startsWith('device') || d.evidence === 'device_online_no_event'), 'missed with evidence');
      await eventually(async () => (await hub.features.alerts.models.Alert.countDocuments({ patientId: s.patient.id, type: 'dose.missed' })) === 3);
    }
  });
}
