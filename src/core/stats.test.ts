// core/stats.ts: the median of odd and even counts, none, and the input left unsorted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median } from './stats.js';

test('median: middle value, mean of the two middle values, NaN for none', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3], 'the input is not sorted in place');
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});
