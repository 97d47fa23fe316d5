/** compare.ts: max difference, NaN propagation, RMS, argmax, and the reference comparison helper. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseModelConfig } from '../../config/model-config.js';
import { argmaxRow, compareWithReference, maxAbsDiff, rms } from './compare.js';
import { referenceForward } from './forward.js';
import { FIXTURE_CONFIGS } from './testing/fixtures.js';
import { randomWeights } from './testing/random-weights.js';

test('maxAbsDiff, rms, argmaxRow by hand', () => {
  assert.equal(maxAbsDiff([1, 2, 3], [1, 2.5, 2]), 1);
  assert.ok(Number.isNaN(maxAbsDiff([1, NaN], [1, 2])), 'NaN is never hidden');
  assert.throws(() => maxAbsDiff([1], [1, 2]), /lengths/);
  assert.equal(rms([3, 4, 0, 0]), 2.5);
  assert.equal(argmaxRow([0, 5, 1, 9, 2, 3], 1, 3), 0);
});

test('compareWithReference: 0 for the reference itself, the perturbation otherwise, last rows only', () => {
  const spec = parseModelConfig(FIXTURE_CONFIGS['qwen3-tiny']);
  const ws = randomWeights(spec, 2);
  const ids = [3, 1, 4, 1, 5];
  const ref = Float32Array.from(referenceForward(spec, ws, ids).logits);
  assert.ok(compareWithReference('self', spec, ws, ids, ref) < 1e-5);
  const last = ref.slice(4 * spec.vocabSize);
  last[7] = last[7]! + 0.5;
  const d = compareWithReference('perturbed last row', spec, ws, ids, last);
  assert.ok(Math.abs(d - 0.5) < 1e-5);
});
