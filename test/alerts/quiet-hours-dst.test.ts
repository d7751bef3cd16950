/**
 * The end of quiet hours is a local time in the patient's zone, whatever the
 * night's length: on the night clocks go forward (Europe/Paris, 2026-03-29,
 * 02:00 CET → 03:00 CEST) quiet hours 22:00–07:00 end at 07:00 CEST = 05:00Z,
 * and on the night they go back (2026-10-25, 03:00 CEST → 02:00 CET) at
 * 07:00 CET = 06:00Z — not an hour early or late because the night is 8 or 10
 * hours long. First through the hub (raise, then the escalation tick with a
 * test clock), then quietUntil itself for the other shapes of window.
 */
import t, { type Test } from 'tap';
import { quietUntil } from '../../src/features/alerts/policy.js';
import { ManualClock } from '../../src/ports/clock.js';
import { request } from '../helpers/clients.js';
import { eventually } from '../helpers/devices.js';
import { startTestHub } from '../helpers/hub.js';
import { alertScenario, collect, putPatientPolicy, quietNightPolicy, signedInSocket } from './helpers.js';

type Payload = Record<string, unknown>;

/** A warning raised at `raisedAt` (Paris quiet hours 22:00–07:00) is first told at `endsAt`, not a minute before. */
async function toldWhenQuietHoursEnd(t: Test, raisedAt: string, endsAt: string): Promise<void> {
  const clock = new ManualClock(raisedAt);
  const hub = await startTestHub(t, { clock });
  const s = await alertScenario(hub);
  t.equal(s.patient.timezone, 'Europe/Paris');
  await putPatientPolicy(hub, s.clinician.token, s.patient.id, quietNightPolicy);
  const caregiver = await signedInSocket(t, hub, s.caregiver.token);
  const notes = collect<Payload>(caregiver, 'alert:notify');
  const alerts = hub.features.alerts;

  const alert = await alerts.raise({ organisationId: s.admin.organisationId, patientId: s.patient.id, type: 'device.jam', cause: 'device.jam:dev-dst' });
  const view = await request(hub, 'GET', `/api/v1/alerts/${alert.id}`, { token: s.clinician.token });
  t.equal(view.body.nextEscalationAt, new Date(endsAt).toISOString(), `held back until 07:00 Paris time (${endsAt})`);

  clock.set(new Date(new Date(endsAt).getTime() - 60_000));
  t.equal(await alerts.service.escalate(), 0, 'a minute before: still quiet');
  clock.set(endsAt);
  t.equal(await alerts.service.escalate(), 1, 'at 07:00 local time the first tier is told');
  await eventually(async () => notes.length === 1);
  t.match(notes[0], { alertId: alert.id, tier: 0, event: 'alert.raised' });
}

t.test('through the hub: the night clocks go forward, quiet hours end at 07:00 CEST (05:00Z)', (t) => toldWhenQuietHoursEnd(t, '2026-03-28T21:30:00Z', '2026-03-29T05:00:00Z'));

t.test('through the hub: the night clocks go back, quiet hours end at 07:00 CET (06:00Z)', (t) => toldWhenQuietHoursEnd(t, '2026-10-24T20:30:00Z', '2026-10-25T06:00:00Z'));

t.test('through the hub: an ordinary winter night, 07:00 CET (06:00Z)', (t) => toldWhenQuietHoursEnd(t, '2026-01-15T22:00:00Z', '2026-01-16T06:00:00Z'));

const night = { start: '22:00', end: '07:00' };
const until = (quiet: { start: string; end: string }, at: string, zone = 'Europe/Paris'): string | null => quietUntil(quiet, new Date(at), zone)?.toISOString() ?? null;

t.test('quiet hours across midnight', async (t) => {
  // Ordinary nights, winter and summer.
  t.equal(until(night, '2026-01-15T22:00:00Z'), '2026-01-16T06:00:00.000Z', 'winter: 23:00 CET → 07:00 CET');
  t.equal(until(night, '2026-07-01T20:00:00Z'), '2026-07-02T05:00:00.000Z', 'summer: 22:00 CEST → 07:00 CEST');
  t.equal(until(night, '2026-01-16T05:30:00Z'), '2026-01-16T06:00:00.000Z', 'after midnight: the same morning');
  t.equal(until(night, '2026-01-16T06:00:00Z'), null, 'at the end: not quiet any more');
  t.equal(until(night, '2026-01-15T20:59:00Z'), null, 'before the start: not quiet');

  // Clocks forward (2026-03-29 01:00Z): the night is 8 hours long.
  t.equal(until(night, '2026-03-28T21:00:00Z'), '2026-03-29T05:00:00.000Z', 'forward, from the start (22:00 CET) → 07:00 CEST');
  t.equal(until(night, '2026-03-28T23:59:00Z'), '2026-03-29T05:00:00.000Z', 'forward, from 00:59 CET');
  t.equal(until(night, '2026-03-29T02:00:00Z'), '2026-03-29T05:00:00.000Z', 'forward, after the change (04:00 CEST)');
  t.equal(until(night, '2026-03-29T05:00:00Z'), null, 'forward: 07:00 CEST is the end');

  // Clocks back (2026-10-25 01:00Z): the night is 10 hours long.
  t.equal(until(night, '2026-10-24T20:00:00Z'), '2026-10-25T06:00:00.000Z', 'back, from the start (22:00 CEST) → 07:00 CET');
  t.equal(until(night, '2026-10-25T00:30:00Z'), '2026-10-25T06:00:00.000Z', 'back, inside the repeated hour (02:30 CEST)');
  t.equal(until(night, '2026-10-25T01:30:00Z'), '2026-10-25T06:00:00.000Z', 'back, inside the repeated hour again (02:30 CET)');
  t.equal(until(night, '2026-10-25T05:00:00Z'), '2026-10-25T06:00:00.000Z', 'back: 06:00 CET is still quiet');

  // Another zone, another date: New York goes forward on 2026-03-08 (07:00Z).
  t.equal(until(night, '2026-03-08T03:00:00Z', 'America/New_York'), '2026-03-08T11:00:00.000Z', 'New York: 22:00 EST → 07:00 EDT');
  t.equal(until(night, '2026-11-01T02:00:00Z', 'America/New_York'), '2026-11-01T12:00:00.000Z', 'New York back: 22:00 EDT → 07:00 EST');
});

t.test('quiet hours within one day', async (t) => {
  const siesta = { start: '13:00', end: '15:00' };
  t.equal(until(siesta, '2026-03-29T11:30:00Z'), '2026-03-29T13:00:00.000Z', 'the day clocks went forward: 13:30 → 15:00 CEST');
  t.equal(until(siesta, '2026-01-15T12:00:00Z'), '2026-01-15T14:00:00.000Z', 'a winter day: 13:00 → 15:00 CET');
  t.equal(until(siesta, '2026-01-15T14:00:00Z'), null, 'at 15:00: over');
  t.equal(until(siesta, '2026-01-15T11:59:00Z'), null, 'at 12:59: not yet');

  // A window the change happens in.
  const small = { start: '01:00', end: '04:00' };
  t.equal(until(small, '2026-03-29T00:30:00Z'), '2026-03-29T02:00:00.000Z', 'forward: 01:30 CET → 04:00 CEST');
  t.equal(until(small, '2026-10-24T23:30:00Z'), '2026-10-25T03:00:00.000Z', 'back: 01:30 CEST → 04:00 CET');
});

t.test('an end the change skips or repeats', async (t) => {
  const late = { start: '23:00', end: '02:30' };
  // 02:30 does not exist on 2026-03-29 in Paris: quiet hours end when the clock jumps past it (02:00 CET → 03:00 CEST).
  t.equal(until(late, '2026-03-28T22:30:00Z'), '2026-03-29T01:00:00.000Z', 'skipped: the end is the change itself');
  t.equal(until(late, '2026-03-29T01:00:00Z'), null, 'and 03:00 CEST is outside the window');
  // 02:30 happens twice on 2026-10-25: the first time ends them; the repeated hour (02:00–02:30 CET) is quiet again, until 02:30 CET.
  t.equal(until(late, '2026-10-24T21:30:00Z'), '2026-10-25T00:30:00.000Z', 'repeated: the first 02:30 (CEST) ends them');
  t.equal(until(late, '2026-10-25T00:40:00Z'), null, '02:40 CEST: outside');
  t.equal(until(late, '2026-10-25T01:10:00Z'), '2026-10-25T01:30:00.000Z', '02:10 CET, inside again: until 02:30 CET');
});
