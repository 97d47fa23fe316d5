/**
 * Comparison helpers for the reference cross-checks (llama2.c style: print the max difference).
 * Work on any numeric arrays (engine f32 rows vs reference f64 rows).
 */
import { assert } from '../../core/assert.js';
import type { ModelSpec } from '../../config/model-spec.js';
import type { WeightSource } from '../tensor.js';
import { referenceForward } from './forward.js';

export type Numbers = ArrayLike<number>;

/** max_i |a_i − b_i|; throws when the lengths differ. NaN anywhere gives NaN. */
export function maxAbsDiff(a: Numbers, b: Numbers): number {
  assert(a.length === b.length, () => `maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = d;
  }
  return m;
}

/** Root mean square of a. */
export function rms(a: Numbers): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return Math.sqrt(s / Math.max(a.length, 1));
}

/** Index of the largest value of row r of a [rows, width] matrix. */
export function argmaxRow(a: Numbers, r: number, width: number): number {
  let best = 0;
  for (let i = 1; i < width; i++) if (a[r * width + i]! > a[r * width + best]!) best = i;
  return best;
}

/** Prints `label: max |logit diff| = …` (and the RMS of the reference) and returns the max diff. */
export function printLogitDiff(label: string, engine: Numbers, reference: Numbers): number {
  const d = maxAbsDiff(engine, reference);
  console.log(`${label}: max |logit diff| = ${d.toExponential(3)} (reference RMS ${rms(reference).toExponential(3)})`);
  return d;
}

/**
 * Runs the reference on `tokenIds` (positions 0 … T−1) and prints/returns the max |logit diff|
 * against `engineLogits` ([T, V], or only the last `engineLogits.length / V` rows).
 */
export function compareWithReference(label: string, spec: ModelSpec, weights: WeightSource, tokenIds: readonly number[], engineLogits: Numbers): number {
  const ref = referenceForward(spec, weights, tokenIds).logits;
  const numRows = engineLogits.length / spec.vocabSize;
  return printLogitDiff(label, engineLogits, ref.subarray(ref.length - numRows * spec.vocabSize));
}
