/** Region layout: areas do not overlap, fields are 32 bytes, bad configs name the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isXdsError } from '../core/errors.js';
import { FIELD_BYTES, allGatherSlotOffset, epAckFieldOf, epInFieldOf, makeRegionLayout, ringSlotOffset } from './region.js';

test('areas are ordered, aligned and disjoint', () => {
  const l = makeRegionLayout({ worldSize: 3, slotBytes: 1024, numSlots: 4, epAreaBytes: 5000, allGatherBytes: 64, appBytes: 100 });
  assert.ok(l.numFields * FIELD_BYTES <= l.metaBytes);
  assert.ok(l.ringOffset >= l.metaBytes && l.ringOffset % 128 === 0);
  assert.equal(ringSlotOffset(l, 0, 1) - ringSlotOffset(l, 0, 0), 1024);
  const odd = makeRegionLayout({ worldSize: 2, slotBytes: 65552, numSlots: 2 }); // slots start on 128 B
  assert.equal(ringSlotOffset(odd, 1, 1) % 128, 0);
  assert.ok(ringSlotOffset(odd, 1, 1) + 65552 <= odd.epOffset);
  assert.ok(ringSlotOffset(l, 2, 3) + 1024 <= l.epOffset);
  assert.ok(l.epOffset + 5000 <= l.allGatherOffset);
  assert.ok(allGatherSlotOffset(l, 2, 1) + 64 <= l.appOffset);
  assert.ok(l.appOffset + 100 <= l.totalBytes);
  assert.equal(l.totalBytes % 4096, 0);
  for (const off of [l.ringOffset, l.epOffset, l.allGatherOffset, l.appOffset]) assert.equal(off % 64, 0);
});

test('every (channel, rank) has its own EP in and ack fields', () => {
  const l = makeRegionLayout({ worldSize: 4 });
  const fields = new Set<number>();
  for (let c = 0; c < 3; c++) for (let r = 0; r < 4; r++) { fields.add(epInFieldOf(l, c, r)); fields.add(epAckFieldOf(l, c, r)); }
  assert.equal(fields.size, 3 * 4 * 2);
  assert.ok(Math.max(...fields) < l.numFields);
});

test('bad region config is an invalid_argument naming the field', () => {
  for (const [bad, param] of [[{ worldSize: 0 }, 'worldSize'], [{ worldSize: 2, slotBytes: 8 }, 'slotBytes'], [{ worldSize: 2, slotBytes: 1026 }, 'slotBytes'], [{ worldSize: 2, numSlots: 0 }, 'numSlots']] as const) {
    assert.throws(() => makeRegionLayout(bad), (e) => isXdsError(e, 'invalid_argument') && e.param === param);
  }
});
