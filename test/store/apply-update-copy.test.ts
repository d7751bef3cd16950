/**
 * Updates work on a copy of the stored document: the top-level fields they touch are cloned,
 * the others shared with the stored version, which must never change (open cursors, the
 * previous version during index maintenance and the journal's patch all read it).
 */
import t from 'tap';
import { applyUpdate } from '../../src/store/embedded/update/apply-update.js';

function stored() {
  return {
    _id: 1,
    status: { lastSeenAt: new Date(1000), slots: [{ slot: 1, pills: 3 }], nested: { deep: [1, 2] } },
    schedule: { version: 4, doses: [{ at: '08:00' }, { at: '20:00' }] },
    tags: ['a', 'b'],
    counters: { n: 1 },
  };
}

t.test('nested operators leave the stored version as it was', async (t) => {
  const original = stored();
  const before = structuredClone(original);
  const next = applyUpdate(
    original,
    {
      $set: { 'status.lastSeenAt': new Date(2000), 'status.slots.0.pills': 2 },
      $push: { 'status.nested.deep': 3, tags: 'c' },
      $inc: { 'counters.n': 1 },
      $rename: { 'schedule.version': 'status.version' },
    },
    { isInsert: false },
  );
  t.same(original, before, 'the stored version is unchanged');
  t.same(next.status, { lastSeenAt: new Date(2000), slots: [{ slot: 1, pills: 2 }], nested: { deep: [1, 2, 3] }, version: 4 });
  t.same(next.tags, ['a', 'b', 'c']);
  t.same(next.counters, { n: 2 });
  t.same(next.schedule, { doses: [{ at: '08:00' }, { at: '20:00' }] });
});

t.test('positional and array-filter updates clone what they reach', async (t) => {
  const original = stored();
  const before = structuredClone(original);
  const next = applyUpdate(original, { $set: { 'schedule.doses.$[d].at': '09:00', 'status.slots.$.pills': 0 } }, { isInsert: false, filter: { 'status.slots.slot': 1 }, arrayFilters: [{ 'd.at': '08:00' }] });
  t.same(original, before, 'the stored version is unchanged');
  t.same(next.schedule.doses, [{ at: '09:00' }, { at: '20:00' }]);
  t.same(next.status.slots, [{ slot: 1, pills: 0 }]);
});

t.test('fields the update does not touch are shared, not copied', async (t) => {
  const original = stored();
  const next = applyUpdate(original, { $set: { 'status.lastSeenAt': new Date(2000) } }, { isInsert: false });
  t.equal(next.schedule, original.schedule, 'an untouched subdocument is the same object');
  t.equal(next.tags, original.tags);
  t.not(next.status, original.status, 'the touched one is a copy');
  t.equal(original.status.lastSeenAt.getTime(), 1000);
});
